package forge.cli;

import forge.codec.CodecKeys;
import forge.codec.CodecServer;
import forge.codec.EncryptionCodec;
import forge.errors.BadInputException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;

@Command(name = "codec-server", description = "Serve Temporal's remote codec endpoint (POST /encode, /decode) with "
        + "the workers' payload keys (FORGE_CODEC_KEY*), so the Web UI and `temporal --codec-endpoint` can read "
        + "encrypted runs. Token: env FORGE_CODEC_SERVER_TOKEN.")
final class CodecServerCommand implements Callable<Integer> {
    static final String ENV_TOKEN = "FORGE_CODEC_SERVER_TOKEN";
    static final String ENV_CORS = "FORGE_CODEC_CORS_ORIGINS";

    @Option(names = "--port", defaultValue = "8888", description = "port, 0 = any (default: ${DEFAULT-VALUE})")
    int port;

    @Option(names = "--bind", defaultValue = "127.0.0.1",
            description = "address to listen on (default: ${DEFAULT-VALUE}; anyone who reaches /decode reads every payload)")
    String bind;

    @Option(names = "--cors-origin", description = "origin of a Temporal Web UI allowed to call this server, e.g. "
            + "http://localhost:8080; repeatable (env " + ENV_CORS + ", comma-separated)")
    List<String> corsOrigins = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        CodecKeys keys = CodecKeys.fromEnvironment(System.getenv()).orElseThrow(() -> new BadInputException(
                "no payload key: set " + CodecKeys.ENV_KEY_FILE + " or " + CodecKeys.ENV_KEY + " (and "
                        + CodecKeys.ENV_KEY_ID + ") as for the workers"));
        Set<String> origins = new LinkedHashSet<>(corsOrigins);
        String env = System.getenv(ENV_CORS);
        if (env != null) {
            Arrays.stream(env.split(",")).map(String::strip).filter(s -> !s.isEmpty()).forEach(origins::add);
        }
        for (String origin : origins) {
            // Browsers send the origin without a trailing slash; one here would never match, silently.
            if (!origin.matches("https?://[^/\\s]+")) {
                throw new BadInputException("--cors-origin: expected scheme://host[:port] with no path, got '"
                        + origin + "'");
            }
        }
        String token = System.getenv(ENV_TOKEN);
        if (!InetAddress.getByName(bind).isLoopbackAddress() && (token == null || token.isBlank())) {
            System.err.println("warning: listening on " + bind + " without " + ENV_TOKEN
                    + ": anyone who can reach this port can decrypt every payload");
        }
        CountDownLatch stopped = new CountDownLatch(1);
        CodecServer server = CodecServer.start(bind, port, new EncryptionCodec(keys), origins, token);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.close();
            stopped.countDown();
        }, "forge-codec-server-shutdown"));
        System.out.println("codec server listening on " + server.endpoint() + "  (" + keys + ")");
        System.out.println("  CORS origins  " + (origins.isEmpty() ? "none (the temporal CLI needs none)" : origins));
        System.out.println("  token         " + (token == null || token.isBlank() ? "none" : "required (" + ENV_TOKEN + ")"));
        System.out.println("  temporal CLI  temporal workflow show --codec-endpoint " + server.endpoint() + " ...");
        System.out.flush();
        stopped.await();
        return 0;
    }
}
