package forge.worker;

import forge.codec.CodecKeys;
import forge.storage.S3Settings;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;

/**
 * How a worker or CLI process reaches Temporal and S3. Read from {@code FORGE_*} environment variables, then
 * overridden by command-line flags. S3 credentials are deliberately absent: they come from the AWS default chain
 * (environment, profile, the pod's web identity), never from here and never from a workflow's input.
 *
 * @param heartbeatInterval upper bound on the time between heartbeats that reach the server: short enough that
 *                          progress bars move, long enough to cost nothing (heartbeats add no history events)
 * @param shutdownGrace     how long a stopping worker (SIGTERM, preemption) waits for its stages to write their
 *                          checkpoint; the pod's termination grace period must be longer
 * @param codecKeys         payload encryption keys ({@code FORGE_CODEC_KEY*}, see {@link CodecKeys}); null: off
 */
public record WorkerSettings(String temporalAddress, String namespace, TlsSettings tls, String apiKey,
                             S3Settings s3, int metricsPort, int torchThreads, int gpuSlots,
                             Duration heartbeatInterval, Duration shutdownGrace, CodecKeys codecKeys) {

    public record TlsSettings(Path caCert, Path clientCert, Path clientKey, String serverName) {
        public boolean enabled() {
            return caCert != null || clientCert != null;
        }
    }

    public WorkerSettings {
        if (gpuSlots <= 0) {
            throw new IllegalArgumentException("gpu slots must be > 0, got " + gpuSlots);
        }
        if ((tls.clientCert() == null) != (tls.clientKey() == null)) {
            throw new IllegalArgumentException("FORGE_TLS_CERT and FORGE_TLS_KEY must be given together (mTLS)");
        }
    }

    public static WorkerSettings fromEnvironment(Map<String, String> env) {
        S3Settings s3 = new S3Settings(
                env.get("FORGE_S3_ENDPOINT"),
                env.getOrDefault("FORGE_S3_REGION", "us-east-1"),
                Boolean.parseBoolean(env.getOrDefault("FORGE_S3_PATH_STYLE", env.containsKey("FORGE_S3_ENDPOINT") ? "true" : "false")),
                env.getOrDefault("FORGE_S3_BUCKET", "forge"),
                env.getOrDefault("FORGE_S3_PREFIX", "runs"));
        TlsSettings tls = new TlsSettings(path(env.get("FORGE_TLS_CA")), path(env.get("FORGE_TLS_CERT")),
                path(env.get("FORGE_TLS_KEY")), env.get("FORGE_TLS_SERVER_NAME"));
        return new WorkerSettings(
                env.getOrDefault("FORGE_TEMPORAL_ADDRESS", "127.0.0.1:7233"),
                env.getOrDefault("FORGE_NAMESPACE", "default"),
                tls,
                env.get("FORGE_TEMPORAL_API_KEY"),
                s3,
                Integer.parseInt(env.getOrDefault("FORGE_METRICS_PORT", "9464")),
                Integer.parseInt(env.getOrDefault("FORGE_TORCH_THREADS", "0")),
                Integer.parseInt(env.getOrDefault("FORGE_GPU_SLOTS", "1")),
                Duration.ofSeconds(Long.parseLong(env.getOrDefault("FORGE_HEARTBEAT_INTERVAL_SECONDS", "5"))),
                Duration.ofSeconds(Long.parseLong(env.getOrDefault("FORGE_SHUTDOWN_GRACE_SECONDS", "60"))),
                CodecKeys.fromEnvironment(env).orElse(null));
    }

    public WorkerSettings withTemporalAddress(String address) {
        return new WorkerSettings(address, namespace, tls, apiKey, s3, metricsPort, torchThreads, gpuSlots, heartbeatInterval, shutdownGrace, codecKeys);
    }

    public WorkerSettings withNamespace(String ns) {
        return new WorkerSettings(temporalAddress, ns, tls, apiKey, s3, metricsPort, torchThreads, gpuSlots, heartbeatInterval, shutdownGrace, codecKeys);
    }

    public WorkerSettings withGpuSlots(int slots) {
        return new WorkerSettings(temporalAddress, namespace, tls, apiKey, s3, metricsPort, torchThreads, slots, heartbeatInterval, shutdownGrace, codecKeys);
    }

    public WorkerSettings withS3(S3Settings newS3) {
        return new WorkerSettings(temporalAddress, namespace, tls, apiKey, newS3, metricsPort, torchThreads, gpuSlots, heartbeatInterval, shutdownGrace, codecKeys);
    }

    public WorkerSettings withMetricsPort(int port) {
        return new WorkerSettings(temporalAddress, namespace, tls, apiKey, s3, port, torchThreads, gpuSlots, heartbeatInterval, shutdownGrace, codecKeys);
    }

    public WorkerSettings withTorchThreads(int threads) {
        return new WorkerSettings(temporalAddress, namespace, tls, apiKey, s3, metricsPort, threads, gpuSlots, heartbeatInterval, shutdownGrace, codecKeys);
    }

    public WorkerSettings withHeartbeatInterval(Duration interval) {
        return new WorkerSettings(temporalAddress, namespace, tls, apiKey, s3, metricsPort, torchThreads, gpuSlots, interval, shutdownGrace, codecKeys);
    }

    /** @param keys null turns payload encryption off */
    public WorkerSettings withCodecKeys(CodecKeys keys) {
        return new WorkerSettings(temporalAddress, namespace, tls, apiKey, s3, metricsPort, torchThreads, gpuSlots, heartbeatInterval, shutdownGrace, keys);
    }

    /** Settings reach logs and error messages; the API key must not (the codec keys print their ids only). */
    @Override
    public String toString() {
        return "WorkerSettings[temporalAddress=" + temporalAddress + ", namespace=" + namespace + ", tls=" + tls
                + ", apiKey=" + (apiKey == null || apiKey.isBlank() ? "none" : "(set)") + ", s3=" + s3
                + ", metricsPort=" + metricsPort + ", torchThreads=" + torchThreads + ", gpuSlots=" + gpuSlots
                + ", heartbeatInterval=" + heartbeatInterval + ", shutdownGrace=" + shutdownGrace
                + ", encryption=" + (codecKeys == null ? "off" : codecKeys) + "]";
    }

    private static Path path(String s) {
        return s == null || s.isBlank() ? null : Path.of(s);
    }
}
