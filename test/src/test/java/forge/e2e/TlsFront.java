package forge.e2e;

import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLServerSocket;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;

/**
 * A TLS-terminating TCP front for the plaintext test server, with a throwaway self-signed certificate: workers
 * configured like a Temporal Cloud worker (CA file, API key, which implies TLS) can then run against the embedded
 * stack. gRPC insists on ALPN {@code h2}; past the handshake the bytes are forwarded untouched.
 */
final class TlsFront implements AutoCloseable {
    private static final String PASSWORD = "forge-test-keystore";

    private final SSLServerSocket server;
    private final Path caPem;
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();

    private TlsFront(SSLServerSocket server, Path caPem) {
        this.server = server;
        this.caPem = caPem;
    }

    static TlsFront start(Path dir, int targetPort) throws Exception {
        Files.createDirectories(dir);
        Path keystore = dir.resolve("front.p12");
        Path pem = dir.resolve("front-ca.pem");
        keytool("-genkeypair", "-alias", "front", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=localhost",
                "-ext", "SAN=ip:127.0.0.1,dns:localhost", "-validity", "2", "-storetype", "PKCS12",
                "-keystore", keystore.toString(), "-storepass", PASSWORD, "-keypass", PASSWORD);
        keytool("-exportcert", "-rfc", "-alias", "front", "-keystore", keystore.toString(), "-storepass", PASSWORD,
                "-file", pem.toString());
        KeyStore ks = KeyStore.getInstance("PKCS12");
        try (InputStream in = Files.newInputStream(keystore)) {
            ks.load(in, PASSWORD.toCharArray());
        }
        KeyManagerFactory kmf = KeyManagerFactory.getInstance(KeyManagerFactory.getDefaultAlgorithm());
        kmf.init(ks, PASSWORD.toCharArray());
        SSLContext tls = SSLContext.getInstance("TLS");
        tls.init(kmf.getKeyManagers(), null, null);
        SSLServerSocket server = (SSLServerSocket) tls.getServerSocketFactory()
                .createServerSocket(0, 50, InetAddress.getLoopbackAddress());
        SSLParameters params = server.getSSLParameters();
        params.setApplicationProtocols(new String[] {"h2"});
        server.setSSLParameters(params);
        TlsFront front = new TlsFront(server, pem);
        Thread accept = new Thread(() -> front.acceptLoop(targetPort), "tls-front-accept");
        accept.setDaemon(true);
        accept.start();
        return front;
    }

    String address() {
        return "127.0.0.1:" + server.getLocalPort();
    }

    /** The certificate to trust ({@code FORGE_TLS_CA}). */
    Path caPem() {
        return caPem;
    }

    private void acceptLoop(int targetPort) {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                Socket target = new Socket(InetAddress.getLoopbackAddress(), targetPort);
                sockets.add(client);
                sockets.add(target);
                pump(client, target);
                pump(target, client);
            } catch (IOException e) {
                if (server.isClosed()) {
                    return;
                }
            }
        }
    }

    private static void pump(Socket from, Socket to) {
        Thread t = new Thread(() -> {
            byte[] buf = new byte[16384];
            try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
                for (int n; (n = in.read(buf)) > 0; ) {
                    out.write(buf, 0, n);
                    out.flush();
                }
            } catch (IOException ignored) {
                // either side went away; closing both ends tells the other
            } finally {
                closeQuietly(from);
                closeQuietly(to);
            }
        }, "tls-front-pump");
        t.setDaemon(true);
        t.start();
    }

    private static void keytool(String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "keytool").toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IllegalStateException("keytool failed: " + out);
        }
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    @Override
    public void close() throws IOException {
        server.close();
        sockets.forEach(TlsFront::closeQuietly);
    }
}
