package forge.dev;

import forge.activities.SearchAttributeCheck;
import forge.storage.EmbeddedS3;
import forge.storage.S3Settings;
import io.temporal.serviceclient.OperatorServiceStubs;
import io.temporal.serviceclient.OperatorServiceStubsOptions;
import io.temporal.testserver.TestServer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Path;

/**
 * The embedded default: Temporal's Java test server bound to a real port (so the {@code temporal} CLI and other
 * worker processes can connect) and S3Proxy on loopback over a local folder (so the AWS SDK speaks real S3
 * protocol). Nothing else to install.
 */
public final class DevStack implements AutoCloseable {
    /** Dev-only credentials for the loopback S3Proxy; real deployments use the AWS default chain. */
    public static final String ACCESS_KEY = "forge-dev";
    public static final String SECRET_KEY = "forge-dev-secret";
    public static final String BUCKET = "forge";
    public static final String PREFIX = "runs";

    private final TestServer.PortBoundTestServer temporal;
    private final int temporalPort;
    private final EmbeddedS3 s3;

    private DevStack(TestServer.PortBoundTestServer temporal, int temporalPort, EmbeddedS3 s3) {
        this.temporal = temporal;
        this.temporalPort = temporalPort;
        this.s3 = s3;
    }

    /** @param temporalPort 0 picks a free port; @param s3Port likewise */
    public static DevStack start(Path s3Dir, int temporalPort, int s3Port) {
        int port = temporalPort == 0 ? freePort() : temporalPort;
        // Time skipping off: training runs in real time and heartbeat timeouts must mean real seconds.
        TestServer.PortBoundTestServer temporal = TestServer.createPortBoundServer(port, true);
        EmbeddedS3 s3 = EmbeddedS3.start(s3Dir, "127.0.0.1", s3Port, BUCKET, ACCESS_KEY, SECRET_KEY);
        // In-process workers find these through the AWS default chain (system properties come first).
        System.setProperty("aws.accessKeyId", ACCESS_KEY);
        System.setProperty("aws.secretAccessKey", SECRET_KEY);
        registerSearchAttributes(port);
        return new DevStack(temporal, port, s3);
    }

    /** So that pipelines on the dev stack carry ForgeStage, ForgeState and ForgeStep from their first event. */
    private static void registerSearchAttributes(int port) {
        OperatorServiceStubs operator = OperatorServiceStubs.newServiceStubs(OperatorServiceStubsOptions.newBuilder()
                .setTarget("127.0.0.1:" + port).validateAndBuildWithDefaults());
        try {
            SearchAttributeCheck.register(operator, "default");
        } finally {
            operator.shutdown();
        }
    }

    public String temporalAddress() {
        return "127.0.0.1:" + temporalPort;
    }

    public String s3Endpoint() {
        return s3.endpoint().toString();
    }

    /** Where workers of this stack keep checkpoints: {@code s3://forge/runs/...} on the loopback endpoint. */
    public S3Settings s3Settings() {
        return new S3Settings(s3Endpoint(), S3Settings.DEFAULT_REGION, true, BUCKET, PREFIX);
    }

    static int freePort() {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        s3.close();
        temporal.close();
    }
}
