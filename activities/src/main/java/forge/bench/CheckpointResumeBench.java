package forge.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import forge.checkpoint.CheckpointBuffers;
import forge.checkpoint.CheckpointFile;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.CheckpointTensors;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.storage.EmbeddedS3;
import forge.storage.S3ClientOptions;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.tensor.EngineArrays;
import forge.tensor.HostTensor;
import forge.tensor.ShardedSafetensors;
import forge.tensor.TensorSource;

import java.io.BufferedReader;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * A checkpoint of N parameters (weights + AdamW exp_avg + exp_avg_sq, fp32, as engine arrays) through the real path:
 * streamed shards straight from the engine tensors ({@link TensorSource#engine}), {@link CheckpointStore#commit} over
 * S3Proxy on loopback, a writer killed with SIGKILL mid-upload of a later checkpoint, and a fresh process that resumes
 * from the last committed one, shard by shard, and checks every tensor's SHA-256 against the writer's.
 *
 * <p>Each role runs in its own child JVM (S3Proxy stays in this one) so that its peak RSS (VmHWM) is the checkpoint
 * client's alone, and so that the kill is a real process kill.
 */
public final class CheckpointResumeBench {
    private static final double MIB = 1024.0 * 1024.0;
    private static final String RUN = "ckpt-bench";
    private static final String STAGE = "pretrain";
    /** What the bound allows beyond the measured baseline and the stated buffers: GC slack, SDK threads, JIT. */
    public static final long ALLOWANCE_BYTES = 256L << 20;

    private CheckpointResumeBench() {
    }

    /**
     * @param params       parameters of each size (the state is 12 bytes a parameter)
     * @param tensorParams parameters of each 2-D tensor but the last of a size (100 MB fp32 by default)
     * @param shardBytes   checkpoint shard size
     * @param childHeap    -Xmx of each child JVM: the heap is capped so that RSS measures what is needed, not what
     *                     the collector let grow
     */
    public record Settings(List<Long> params, long tensorParams, long shardBytes, String childHeap, Path dir,
                           long seed) {
        public Settings {
            if (params == null || params.isEmpty()) {
                throw BadInputException.field("bench.params", "is required");
            }
            for (long p : params) {
                if (p < 1024) {
                    throw BadInputException.field("bench.params", "must be at least 1K, got " + p);
                }
            }
            params = List.copyOf(params);
            if (tensorParams < 1) {
                throw BadInputException.field("bench.tensor_params", "must be positive");
            }
            if (shardBytes < 1) {
                throw BadInputException.field("bench.shard_size", "must be positive");
            }
            if (!childHeap.matches("[0-9]+m")) {
                throw BadInputException.field("bench.child_heap", "must be megabytes like 512m, got " + childHeap);
            }
        }

        public long heapCapBytes() {
            return Long.parseLong(childHeap.substring(0, childHeap.length() - 1)) << 20;
        }

        public static Settings of(List<Long> params, Path dir) {
            return new Settings(params, 6144L * 4096, 2000 * ShardedSafetensors.MB, "512m", dir, 1);
        }
    }

    /** {@code 125M,350M,1.5B}: K, M, B are 10^3, 10^6, 10^9. */
    public static List<Long> parseParams(String text) {
        List<Long> out = new ArrayList<>();
        for (String part : text.split(",")) {
            String s = part.trim().toUpperCase(Locale.ROOT);
            if (s.isEmpty()) {
                throw BadInputException.field("--params", "has an empty size in '" + text + "'");
            }
            double mult = switch (s.charAt(s.length() - 1)) {
                case 'K' -> 1e3;
                case 'M' -> 1e6;
                case 'B' -> 1e9;
                default -> 1;
            };
            String num = mult == 1 ? s : s.substring(0, s.length() - 1);
            try {
                out.add(Math.round(Double.parseDouble(num) * mult));
            } catch (NumberFormatException e) {
                throw BadInputException.field("--params", "'" + part.trim() + "' is not a count like 125M or 1.5B");
            }
        }
        return out;
    }

    /** The figures of one size: the writer's and the resumer's, as the children reported them. */
    public record Row(long params, long stateBytes, int shards, long largestTensorBytes, double commitSeconds,
                      long writerBaselineRss, long writerSteadyRss, long writerPeakRss, boolean killedMidUpload,
                      long tornBytesWritten, long resumedStep, double loadSeconds, long loaderBaselineRss,
                      long loaderPeakRss, boolean bitExact) {
        public long writerOverState() {
            return writerPeakRss - stateBytes;
        }

        public long loaderOverState() {
            return loaderPeakRss - stateBytes;
        }

        /**
         * Baseline RSS (JVM + libtorch, measured before any state) + the child's heap cap + the native allowance.
         * The heap holds what the checkpoint code states it needs ({@link #statedHeapBytes}, checked to fit the cap),
         * but the collector lets garbage (8 MiB engine chunks, parts) fill the heap up to its cap before it collects,
         * so the cap, not the stated figure, is what RSS can reach.
         */
        public long bound(long heapCapBytes) {
            return Math.max(writerBaselineRss, loaderBaselineRss) + heapCapBytes + ALLOWANCE_BYTES;
        }

        /** CheckpointBuffers.peakBytes (writing) and loadPeakBytes + the float copy of the largest tensor (loading). */
        public long statedHeapBytes(long shardBytes) {
            return Math.max(CheckpointBuffers.peakBytes(shardBytes),
                    CheckpointBuffers.loadPeakBytes(largestTensorBytes) + largestTensorBytes);
        }

        public boolean held(long heapCapBytes) {
            return Math.max(writerOverState(), loaderOverState()) <= bound(heapCapBytes);
        }
    }

    public record Result(Settings settings, List<Row> rows) {
        public boolean held() {
            return rows.stream().allMatch(r -> r.held(settings.heapCapBytes()) && r.bitExact() && r.resumedStep() == 1
                    && r.statedHeapBytes(settings.shardBytes()) <= settings.heapCapBytes());
        }

        public String markdown() {
            StringBuilder sb = new StringBuilder();
            sb.append("| params | state GiB | shards | commit s | MiB/s | peak RSS GiB (write / load) "
                    + "| RSS − state MiB (write / load) | bound MiB | load s | MiB/s | resumed | bit-exact |\n");
            sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|\n");
            for (Row r : rows) {
                sb.append(String.format(Locale.ROOT,
                        "| %.0fM | %.2f | %d | %.1f | %.0f | %.2f / %.2f | %.0f / %.0f | %.0f (baseline %.0f) "
                                + "| %.1f | %.0f | step %d%s | %s |%n",
                        r.params() / 1e6, r.stateBytes() / MIB / 1024, r.shards(), r.commitSeconds(),
                        r.stateBytes() / MIB / r.commitSeconds(), r.writerPeakRss() / MIB / 1024,
                        r.loaderPeakRss() / MIB / 1024, r.writerOverState() / MIB, r.loaderOverState() / MIB,
                        r.bound(settings.heapCapBytes()) / MIB,
                        Math.max(r.writerBaselineRss(), r.loaderBaselineRss()) / MIB, r.loadSeconds(),
                        r.stateBytes() / MIB / r.loadSeconds(),
                        r.resumedStep(), r.killedMidUpload() ? String.format(Locale.ROOT,
                                " (step 2 killed at %.0f MiB)", r.tornBytesWritten() / MIB) : "",
                        r.bitExact() ? "yes" : "**NO**"));
            }
            for (Row r : rows) {
                long over = Math.max(r.writerOverState(), r.loaderOverState()) - r.bound(settings.heapCapBytes());
                long stated = r.statedHeapBytes(settings.shardBytes());
                sb.append(String.format(Locale.ROOT, "%n%.0fM: %s; stated heap %.0f MiB %s the -Xmx%s cap",
                        r.params() / 1e6, over <= 0 ? "bound held"
                                : String.format(Locale.ROOT, "bound EXCEEDED by %.0f MiB", over / MIB),
                        stated / MIB, stated <= settings.heapCapBytes() ? "fits" : "DOES NOT FIT",
                        settings.childHeap()));
            }
            sb.append(String.format(Locale.ROOT, "%n%nBound: peak RSS − state ≤ baseline RSS (JVM + libtorch, "
                            + "measured in the child before any state) + the child's heap cap (-Xmx%s) + %d MiB of "
                            + "native allowance (libtorch's chunk copies, thread stacks, direct buffers). The heap cap "
                            + "must hold the stated heap: CheckpointBuffers.peakBytes (%.0f MiB) when writing, "
                            + "loadPeakBytes(largest tensor) + its float copy when loading. Shard size %d MB.%n",
                    settings.childHeap(), ALLOWANCE_BYTES >> 20,
                    CheckpointBuffers.peakBytes(settings.shardBytes()) / MIB,
                    settings.shardBytes() / ShardedSafetensors.MB));
            return sb.toString();
        }
    }

    /**
     * The tensors of a model of {@code params}: 2-D tensors of 4096 columns (a Llama-like width), {@code tensorParams}
     * each but the last, which takes the remaining rows; params not a multiple of 4096 are rounded down.
     */
    static Map<String, long[]> shapes(long params, long tensorParams) {
        long cols = Math.min(4096, params);
        long perTensorRows = Math.max(1, tensorParams / cols);
        long rowsLeft = params / cols;
        Map<String, long[]> out = new LinkedHashMap<>();
        int i = 0;
        while (rowsLeft > 0) {
            long rows = Math.min(perTensorRows, rowsLeft);
            out.put(String.format(Locale.ROOT, "h.%03d.weight", i++), new long[] {rows, cols});
            rowsLeft -= rows;
        }
        return out;
    }

    public static Result run(Settings settings, Consumer<String> progress) {
        Path dir = settings.dir();
        boolean ownDir = dir == null;
        try {
            dir = ownDir ? Files.createTempDirectory("forge-bench-resume-") : Files.createDirectories(dir);
            List<Row> rows = new ArrayList<>();
            for (long params : settings.params()) {
                Path s3Dir = dir.resolve("s3");
                try (EmbeddedS3 server = EmbeddedS3.start(s3Dir, "127.0.0.1", 0, "bench", "bench-key",
                        "bench-secret")) {
                    rows.add(oneSize(settings, params, server, progress));
                } finally {
                    CheckpointIoBench.deleteQuietly(s3Dir);
                }
            }
            return new Result(settings, rows);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } finally {
            if (ownDir && dir != null) {
                CheckpointIoBench.deleteQuietly(dir);
            }
        }
    }

    private static Row oneSize(Settings s, long params, EmbeddedS3 server, Consumer<String> progress)
            throws IOException {
        String p = Long.toString(params);
        progress.accept(String.format(Locale.ROOT, "%.0fM parameters: writer commits step 1", params / 1e6));
        Map<String, String> w = child(s, server, progress, null, "write", p, "1");
        progress.accept("second writer commits step 2 and is killed mid-upload");
        Map<String, String> k = child(s, server, progress, "MID_UPLOAD", "write", p, "2");
        progress.accept("a fresh process resumes");
        Map<String, String> r = child(s, server, progress, null, "resume", p, "1");
        boolean exact = w.get("digests").equals(r.get("digests"));
        return new Row(params, Long.parseLong(w.get("stateBytes")), Integer.parseInt(w.get("shards")),
                Long.parseLong(w.get("largestTensor")), Double.parseDouble(w.get("commitSeconds")),
                Long.parseLong(w.get("baselineRss")), Long.parseLong(w.get("steadyRss")),
                Long.parseLong(w.get("peakRss")), k.containsKey("killed"),
                Long.parseLong(k.getOrDefault("MID_UPLOAD", "0")), Long.parseLong(r.get("step")),
                Double.parseDouble(r.get("loadSeconds")), Long.parseLong(r.get("baselineRss")),
                Long.parseLong(r.get("peakRss")), exact);
    }

    /**
     * Runs one role in a child JVM and collects its {@code key=value} lines; with {@code killOn}, kills it with
     * SIGKILL as soon as it prints that key (and then requires that it did not finish on its own).
     */
    private static Map<String, String> child(Settings s, EmbeddedS3 server, Consumer<String> progress, String killOn,
                                             String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx" + s.childHeap());
        System.getProperties().forEach((key, value) -> {
            if (key.toString().startsWith("ai.djl.")) {
                cmd.add("-D" + key + "=" + value);
            }
        });
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(CheckpointResumeBench.class.getName());
        cmd.addAll(List.of(args));
        cmd.addAll(List.of(server.endpoint().toString(), server.accessKey(), server.secretKey(),
                Long.toString(s.tensorParams()), Long.toString(s.shardBytes()), Long.toString(s.seed())));
        Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        Map<String, String> out = new LinkedHashMap<>();
        List<String> tail = new ArrayList<>();
        try (BufferedReader in = new BufferedReader(new InputStreamReader(proc.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith("@")) {
                    int eq = line.indexOf('=');
                    String key = line.substring(1, eq);
                    out.put(key, line.substring(eq + 1));
                    if (key.equals(killOn)) {
                        proc.destroyForcibly(); // SIGKILL on Linux: no shutdown hooks, no finally blocks
                        out.put("killed", "true");
                        progress.accept(String.format(Locale.ROOT, "  killed (SIGKILL) after %.0f MiB of step 2",
                                Long.parseLong(out.get(key)) / MIB));
                        break; // the kill closed the pipe
                    }
                } else if (line.startsWith("#")) {
                    progress.accept("  " + line.substring(1).trim());
                } else {
                    tail.add(line);
                    if (tail.size() > 40) {
                        tail.remove(0);
                    }
                }
            }
            int rc = proc.waitFor();
            if (killOn != null ? !out.containsKey("killed") : rc != 0) {
                throw new IllegalStateException("child " + String.join(" ", args) + " exited " + rc
                        + (killOn != null ? " before it was killed" : "") + ":\n" + String.join("\n", tail));
            }
            return out;
        } catch (InterruptedException e) {
            proc.destroyForcibly();
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } finally {
            if (proc.isAlive()) {
                proc.destroyForcibly();
                try {
                    proc.waitFor(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
        }
    }

    /** The child: {@code write|resume <params> <step> <endpoint> <key> <secret> <tensorParams> <shardBytes> <seed>}. */
    public static void main(String[] a) throws Exception {
        String role = a[0];
        long params = Long.parseLong(a[1]);
        long step = Long.parseLong(a[2]);
        URI endpoint = URI.create(a[3]);
        System.setProperty("aws.accessKeyId", a[4]);
        System.setProperty("aws.secretAccessKey", a[5]);
        long tensorParams = Long.parseLong(a[6]);
        long shardBytes = Long.parseLong(a[7]);
        long seed = Long.parseLong(a[8]);
        S3Settings s3 = S3Settings.local(endpoint, "bench", "bench");
        try (NDManager m = NDManager.newBaseManager();
             S3Storage storage = new S3Storage(s3, S3ClientOptions.defaults())) {
            m.zeros(new Shape(1)).close(); // loads libtorch before the baseline
            CheckpointStore store = new CheckpointStore(storage, s3.stageRoot(RUN, STAGE), 3);
            report("baselineRss", rss("VmRSS"));
            if (role.equals("write")) {
                write(m, store, params, step, tensorParams, shardBytes, seed + step);
            } else {
                resume(m, store);
            }
            report("peakRss", rss("VmHWM"));
        }
        System.out.flush();
        System.exit(0);
    }

    private static void write(NDManager m, CheckpointStore store, long params, long step, long tensorParams,
                              long shardBytes, long seed) throws IOException {
        Engine.getInstance().setRandomSeed((int) seed);
        Map<String, long[]> shapes = shapes(params, tensorParams);
        Map<String, NDArray> weights = new TreeMap<>();
        Map<String, NDArray> moments = new TreeMap<>();
        long largest = 0;
        for (var e : shapes.entrySet()) {
            Shape shape = new Shape(e.getValue());
            NDArray wt = m.randomNormal(0, 0.02f, shape, ai.djl.ndarray.types.DataType.FLOAT32);
            weights.put(e.getKey(), wt);
            moments.put("exp_avg." + e.getKey(), wt.mul(0.1f));
            try (NDArray sq = wt.square()) { // a temporary the size of the tensor: not state, so freed
                moments.put("exp_avg_sq." + e.getKey(), sq.mul(0.001f));
            }
            largest = Math.max(largest, shape.size() * 4);
        }
        Map<String, TensorSource> wSrc = new TreeMap<>();
        weights.forEach((n, t) -> wSrc.put(n, TensorSource.engine(t)));
        Map<String, TensorSource> mSrc = new TreeMap<>();
        moments.forEach((n, t) -> mSrc.put(n, TensorSource.engine(t)));
        report("digests", digests(wSrc, mSrc));
        report("steadyRss", rss("VmRSS"));
        List<CheckpointFile> files = new ArrayList<>();
        files.add(new CheckpointFile("state.json", ("{\"step\":" + step + "}").getBytes(StandardCharsets.UTF_8)));
        files.addAll(CheckpointTensors.files("model", wSrc, Map.of("format", "pt"), shardBytes));
        files.addAll(CheckpointTensors.files("optimizer", mSrc, Map.of(), shardBytes));
        long total = files.stream().mapToLong(CheckpointFile::size).sum();
        long shards = files.stream().filter(f -> f.name().endsWith(".safetensors")).count();
        report("stateBytes", shapes.values().stream().mapToLong(HostTensor::numel).sum() * 12);
        report("shards", shards);
        report("largestTensor", largest);
        // The killed writer says how far it got once it is past half of the checkpoint: inside a later shard.
        long[] written = {0};
        List<CheckpointFile> counted = new ArrayList<>();
        for (CheckpointFile f : files) {
            counted.add(f.inMemory() ? f : CheckpointFile.streamed(f.name(), f.size(), out -> f.writeTo(
                    new FilterOutputStream(out) {
                        @Override
                        public void write(byte[] b, int off, int len) throws IOException {
                            out.write(b, off, len);
                            long before = written[0];
                            written[0] += len;
                            if (before < total / 2 && written[0] >= total / 2) {
                                report("MID_UPLOAD", written[0]);
                            }
                        }
                    })));
        }
        long t = System.nanoTime();
        store.commit(CheckpointStore.stepDir(step), counted);
        report("commitSeconds", (System.nanoTime() - t) / 1e9);
        System.out.println("# committed " + CheckpointStore.stepDir(step) + ": " + shards + " shards, "
                + String.format(Locale.ROOT, "%.2f GiB", total / MIB / 1024));
    }

    private static void resume(NDManager m, CheckpointStore store) throws IOException {
        long t = System.nanoTime();
        LoadedCheckpoint c = store.latest().orElseThrow(() -> new IllegalStateException("no checkpoint to resume"));
        report("step", c.step());
        Map<String, NDArray> weights = new TreeMap<>();
        Map<String, NDArray> moments = new TreeMap<>();
        CheckpointTensors.read(c, "model", (name, h) -> weights.put(name, toEngine(m, h)));
        CheckpointTensors.read(c, "optimizer", (name, h) -> moments.put(name, toEngine(m, h)));
        report("loadSeconds", (System.nanoTime() - t) / 1e9);
        Map<String, TensorSource> wSrc = new TreeMap<>();
        weights.forEach((n, a) -> wSrc.put(n, TensorSource.engine(a)));
        Map<String, TensorSource> mSrc = new TreeMap<>();
        moments.forEach((n, a) -> mSrc.put(n, TensorSource.engine(a)));
        report("digests", digests(wSrc, mSrc));
        System.out.println("# resumed " + c.name() + " (skipped corrupt: " + store.skippedCorrupt() + ")");
    }

    private static NDArray toEngine(NDManager m, HostTensor h) {
        return EngineArrays.of(m, h.toFloatArray(), new Shape(h.shape()));
    }

    /** SHA-256 of every tensor's bytes, as the engine holds them, in name order: one hex string. */
    private static String digests(Map<String, TensorSource> weights, Map<String, TensorSource> moments)
            throws IOException {
        StringBuilder sb = new StringBuilder();
        for (Map<String, TensorSource> map : List.of(weights, moments)) {
            for (var e : map.entrySet()) {
                MessageDigest md = sha256();
                e.getValue().writeTo(new OutputStream() {
                    @Override
                    public void write(int b) {
                        md.update((byte) b);
                    }

                    @Override
                    public void write(byte[] b, int off, int len) {
                        md.update(b, off, len);
                    }
                });
                sb.append(e.getKey()).append(':').append(HexFormat.of().formatHex(md.digest())).append(',');
            }
        }
        return sb.toString();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void report(String key, Object value) {
        System.out.println("@" + key + "=" + value);
        System.out.flush();
    }

    /** A field of /proc/self/status in bytes (VmRSS: now, VmHWM: the peak). */
    static long rss(String field) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(field + ":")) {
                return Long.parseLong(line.substring(field.length() + 1).replace("kB", "").trim()) * 1024;
            }
        }
        throw new IllegalStateException("/proc/self/status has no " + field);
    }
}
