package forge.storage;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.random.RandomGenerator;

/**
 * Test fixture: an HTTP proxy in front of an S3 endpoint that injects the faults real S3 and real networks produce —
 * 500 and 503 answers with S3's XML error body, connections reset before or after the upstream saw the request,
 * replies held back past the client's socket timeout, and uploads cut off part-way — and counts what it injected, by
 * kind. Which request gets which fault is drawn from a seeded generator in the order requests arrive, so a client that
 * sends its requests one at a time meets the same faults on every run.
 *
 * <p>Point an {@link S3Storage} at {@link #endpoint()} with the upstream's bucket and keys: the proxy forwards
 * requests byte for byte, so SigV4 signatures made for the proxy's address verify upstream.
 */
public final class FaultyS3Proxy implements AutoCloseable {
    public enum Fault {
        /** 500 InternalError, the request never reaches the upstream. */
        HTTP_500,
        /** 503 SlowDown, S3's way of asking a client to back off; the request never reaches the upstream. */
        HTTP_503,
        /** TCP reset, either before forwarding or after the upstream answered (the reply is lost). */
        RESET,
        /** The upstream answers, the reply is held for the stall duration before it is sent. */
        STALL,
        /** An upload's head and part of its body reach the upstream, then both connections close. */
        TRUNCATE
    }

    /**
     * Probabilities per request, drawn from one uniform number (so they must sum to at most 1). {@code truncate}
     * applies only to uploads (PUT with a body: PutObject, UploadPart); other requests that draw it pass unharmed.
     */
    public record Rates(double http500, double http503, double reset, double stall, double truncate) {
        public static final Rates NONE = new Rates(0, 0, 0, 0, 0);

        public Rates {
            for (double r : new double[] {http500, http503, reset, stall, truncate}) {
                if (!(r >= 0 && r <= 1)) {
                    throw new IllegalArgumentException("fault rates must be in [0, 1], got " + r);
                }
            }
            if (http500 + http503 + reset + stall + truncate > 1 + 1e-9) {
                throw new IllegalArgumentException("fault rates sum to more than 1");
            }
        }

        public static Rates only(Fault kind) {
            return switch (kind) {
                case HTTP_500 -> new Rates(1, 0, 0, 0, 0);
                case HTTP_503 -> new Rates(0, 1, 0, 0, 0);
                case RESET -> new Rates(0, 0, 1, 0, 0);
                case STALL -> new Rates(0, 0, 0, 1, 0);
                case TRUNCATE -> new Rates(0, 0, 0, 0, 1);
            };
        }
    }

    private static final int IDLE_MILLIS = 60_000;
    /**
     * S3Proxy's blob store logs every upload that ends early as SEVERE with a stack trace; here that is the fault
     * working as intended. Held strongly, since java.util.logging keeps loggers only weakly.
     */
    private static final java.util.logging.Logger UPSTREAM_PUT_LOG =
            java.util.logging.Logger.getLogger("org.jclouds.blobstore.config.LocalBlobStore");

    private record Scheduled(Fault kind, String method, java.util.regex.Pattern path, int[] remaining) {
        boolean matches(RawHttp.Request r) {
            return r.method().equals(method) && path.matcher(r.path()).find();
        }
    }

    private record Delayed(String method, java.util.regex.Pattern path, Duration by, int[] remaining) {
    }

    private record Decision(Fault fault, boolean afterUpstream, double cutFraction) {
        static final Decision PASS = new Decision(null, false, 1);
    }

    private final InetSocketAddress upstream;
    private final ServerSocket server;
    private final Duration stall;
    private final RandomGenerator random;
    private final ExecutorService handlers;
    private final CountDownLatch closed = new CountDownLatch(1);
    private final Set<Socket> open = ConcurrentHashMap.newKeySet();
    private final Map<Fault, AtomicLong> injected = new EnumMap<>(Fault.class);
    private final AtomicLong requests = new AtomicLong();
    private final List<Scheduled> scheduled = new ArrayList<>();
    private final List<Delayed> delayed = new ArrayList<>();
    private volatile Rates rates;

    private FaultyS3Proxy(URI upstream, long seed, Rates rates, Duration stall) throws IOException {
        this.upstream = new InetSocketAddress(upstream.getHost(), upstream.getPort());
        this.server = new ServerSocket(0, 50, InetAddress.getByName("127.0.0.1"));
        this.stall = stall;
        this.random = new SplittableRandom(seed);
        this.rates = rates;
        for (Fault f : Fault.values()) {
            injected.put(f, new AtomicLong());
        }
        this.handlers = Executors.newCachedThreadPool(r -> {
            Thread t = new Thread(r, "faulty-s3-proxy");
            t.setDaemon(true);
            return t;
        });
        handlers.execute(this::accept);
        UPSTREAM_PUT_LOG.setLevel(java.util.logging.Level.OFF);
    }

    /**
     * @param stall how long a {@link Fault#STALL} holds a reply back; longer than the client's socket timeout makes
     *              the client give up and retry, shorter makes a slow but successful request
     */
    public static FaultyS3Proxy start(URI upstream, long seed, Rates rates, Duration stall) {
        try {
            return new FaultyS3Proxy(upstream, seed, rates, stall);
        } catch (IOException e) {
            throw new IllegalStateException("cannot start the fault-injecting proxy: " + e, e);
        }
    }

    public URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getLocalPort());
    }

    public void rates(Rates rates) {
        this.rates = rates;
    }

    /**
     * The next {@code count} requests with this method whose path ends with {@code pathSuffix} get {@code kind},
     * before and regardless of the random draw; e.g. enough 503s on one object to exhaust the client's retries.
     */
    public synchronized void schedule(Fault kind, String method, String pathSuffix, int count) {
        schedule(kind, method, java.util.regex.Pattern.compile(java.util.regex.Pattern.quote(pathSuffix) + "$"), count);
    }

    /** As {@link #schedule(Fault, String, String, int)}, for requests whose path {@code path} finds a match in. */
    public synchronized void schedule(Fault kind, String method, java.util.regex.Pattern path, int count) {
        scheduled.add(new Scheduled(kind, method, path, new int[] {count}));
    }

    /**
     * The next {@code count} requests with this method whose path {@code path} finds a match in are held for
     * {@code by} before they go on (and may still draw a fault): the upstream sees them late, as it sees the write of
     * a process that paused between deciding to write and writing.
     */
    public synchronized void delay(String method, java.util.regex.Pattern path, Duration by, int count) {
        delayed.add(new Delayed(method, path, by, new int[] {count}));
    }

    /** Requests {@link #delay} still waits for: 0 once every one of them arrived (and is held or passed). */
    public synchronized int delaysPending() {
        return delayed.stream().mapToInt(d -> d.remaining()[0]).sum();
    }

    private synchronized Duration delayFor(RawHttp.Request r) {
        for (Iterator<Delayed> it = delayed.iterator(); it.hasNext(); ) {
            Delayed d = it.next();
            if (d.method().equals(r.method()) && d.path().matcher(r.path()).find()) {
                if (--d.remaining()[0] <= 0) {
                    it.remove();
                }
                return d.by();
            }
        }
        return Duration.ZERO;
    }

    public long injected(Fault kind) {
        return injected.get(kind).get();
    }

    public long injectedTotal() {
        return injected.values().stream().mapToLong(AtomicLong::get).sum();
    }

    public Map<Fault, Long> injectedByKind() {
        Map<Fault, Long> out = new EnumMap<>(Fault.class);
        injected.forEach((k, v) -> out.put(k, v.get()));
        return Collections.unmodifiableMap(out);
    }

    /** Requests that reached the proxy, faulted or not. */
    public long requests() {
        return requests.get();
    }

    @Override
    public void close() {
        UPSTREAM_PUT_LOG.setLevel(null);
        closed.countDown();
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        open.forEach(FaultyS3Proxy::closeQuietly);
        handlers.shutdownNow();
        try {
            handlers.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private void accept() {
        while (!server.isClosed()) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                return;
            }
            open.add(client);
            try {
                handlers.execute(() -> serve(client));
            } catch (RuntimeException rejected) {
                closeQuietly(client);
                return;
            }
        }
    }

    private void serve(Socket client) {
        try (client) {
            client.setSoTimeout(IDLE_MILLIS);
            OutputStream out = client.getOutputStream();
            RawHttp.Request request = RawHttp.readRequest(new BufferedInputStream(client.getInputStream()), out);
            if (request == null) {
                return;
            }
            Duration hold = delayFor(request);
            if (!hold.isZero() && closed.await(hold.toMillis(), TimeUnit.MILLISECONDS)) {
                return;
            }
            Decision d = decide(request);
            if (d.fault() == null) {
                out.write(RawHttp.closingReply(exchange(request, request.body().length)));
                return;
            }
            injected.get(d.fault()).incrementAndGet();
            switch (d.fault()) {
                case HTTP_500 -> out.write(s3Error(request, 500, "Internal Server Error", "InternalError",
                        "We encountered an internal error. Please try again."));
                case HTTP_503 -> out.write(s3Error(request, 503, "Slow Down", "SlowDown",
                        "Please reduce your request rate."));
                case RESET -> {
                    if (d.afterUpstream()) {
                        exchange(request, request.body().length);
                    }
                    client.setSoLinger(true, 0);
                }
                case STALL -> {
                    byte[] reply = RawHttp.closingReply(exchange(request, request.body().length));
                    if (!closed.await(stall.toMillis(), TimeUnit.MILLISECONDS)) {
                        out.write(reply);
                    }
                }
                case TRUNCATE -> exchange(request, (int) (request.body().length * d.cutFraction()));
            }
            out.flush();
        } catch (IOException e) {
            // The client gave up (a stall outlasted its timeout) or went away; there is nobody left to answer.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            open.remove(client);
        }
    }

    private synchronized Decision decide(RawHttp.Request request) {
        requests.incrementAndGet();
        for (Iterator<Scheduled> it = scheduled.iterator(); it.hasNext(); ) {
            Scheduled s = it.next();
            if (s.matches(request)) {
                if (--s.remaining()[0] <= 0) {
                    it.remove();
                }
                return new Decision(s.kind(), random.nextBoolean(), 0.5);
            }
        }
        Rates r = rates;
        double u = random.nextDouble();
        double edge = r.http500();
        if (u < edge) {
            return new Decision(Fault.HTTP_500, false, 1);
        }
        if (u < (edge += r.http503())) {
            return new Decision(Fault.HTTP_503, false, 1);
        }
        if (u < (edge += r.reset())) {
            return new Decision(Fault.RESET, random.nextBoolean(), 1);
        }
        if (u < (edge += r.stall())) {
            return new Decision(Fault.STALL, true, 1);
        }
        if (u < edge + r.truncate() && request.isUpload()) {
            // Never the whole body: the upstream must see an upload that ends early.
            return new Decision(Fault.TRUNCATE, false, random.nextDouble() * 0.95);
        }
        return Decision.PASS;
    }

    /**
     * Sends the request upstream with the first {@code bodyBytes} of its body. The whole body gets the upstream's
     * reply, read until it closes; less than that gets a close mid-body and null, as when a client dies mid-upload.
     */
    private byte[] exchange(RawHttp.Request request, int bodyBytes) throws IOException {
        try (Socket up = new Socket()) {
            up.connect(upstream, 5_000);
            up.setSoTimeout(IDLE_MILLIS);
            OutputStream o = up.getOutputStream();
            o.write(request.forwardHead());
            o.write(request.body(), 0, bodyBytes);
            o.flush();
            if (bodyBytes < request.body().length) {
                return null;
            }
            return up.getInputStream().readAllBytes();
        }
    }

    private static byte[] s3Error(RawHttp.Request request, int status, String reason, String code, String message) {
        String requestId = "FAULT" + Long.toHexString(System.nanoTime());
        String xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>" + code + "</Code><Message>"
                + message + "</Message><Resource>" + request.path() + "</Resource><RequestId>" + requestId
                + "</RequestId></Error>";
        byte[] body = request.method().equals("HEAD") ? new byte[0] : xml.getBytes(StandardCharsets.UTF_8);
        String head = "HTTP/1.1 " + status + " " + reason + "\r\n"
                + "Content-Type: application/xml\r\n"
                + "x-amz-request-id: " + requestId + "\r\n"
                + "Content-Length: " + xml.getBytes(StandardCharsets.UTF_8).length + "\r\n"
                + "Connection: close\r\n\r\n";
        byte[] headBytes = head.getBytes(StandardCharsets.ISO_8859_1);
        byte[] out = new byte[headBytes.length + body.length];
        System.arraycopy(headBytes, 0, out, 0, headBytes.length);
        System.arraycopy(body, 0, out, headBytes.length, body.length);
        return out;
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // already gone
        }
    }
}
