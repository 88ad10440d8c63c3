package forge.worker;

import forge.codec.EncryptionCodec;
import io.micrometer.core.instrument.MeterRegistry;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowClientOptions;
import io.temporal.common.converter.CodecDataConverter;
import io.temporal.common.converter.DataConverter;
import io.temporal.common.converter.DefaultDataConverter;
import io.temporal.common.converter.GlobalDataConverter;
import io.temporal.common.reporter.MicrometerClientStatsReporter;
import io.temporal.serviceclient.SimpleSslContextBuilder;
import io.temporal.serviceclient.WorkflowServiceStubs;
import io.temporal.serviceclient.WorkflowServiceStubsOptions;
import com.uber.m3.tally.RootScopeBuilder;
import com.uber.m3.tally.Scope;
import com.uber.m3.util.Duration;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.List;

/**
 * One place that turns settings into a Temporal client: address, namespace, TLS or mTLS, API key, metrics, payload
 * encryption.
 */
public final class TemporalConnection {
    private TemporalConnection() {}

    public static WorkflowServiceStubs stubs(WorkerSettings s, MeterRegistry registry) {
        WorkflowServiceStubsOptions.Builder options = WorkflowServiceStubsOptions.newBuilder()
                .setTarget(s.temporalAddress());
        if (s.tls().enabled()) {
            try (InputStream ca = open(s.tls().caCert()); InputStream cert = open(s.tls().clientCert());
                 InputStream key = open(s.tls().clientKey())) {
                SimpleSslContextBuilder ssl = cert != null
                        ? SimpleSslContextBuilder.forPKCS8(cert, key)
                        : SimpleSslContextBuilder.noKeyOrCertChain();
                if (ca != null) {
                    ssl.setTrustManager(trustManager(s));
                }
                options.setSslContext(ssl.build());
                if (s.tls().serverName() != null) {
                    options.setChannelInitializer(c -> c.overrideAuthority(s.tls().serverName()));
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read TLS files: " + e.getMessage(), e);
            }
        }
        if (s.apiKey() != null && !s.apiKey().isBlank()) {
            String key = s.apiKey();
            options.addApiKey(() -> key);
            if (!s.tls().enabled()) {
                options.setEnableHttps(true);
            }
        }
        if (registry != null) {
            Scope scope = new RootScopeBuilder()
                    .reporter(new MicrometerClientStatsReporter(registry))
                    .reportEvery(Duration.ofSeconds(10));
            options.setMetricsScope(scope);
        }
        return WorkflowServiceStubs.newServiceStubs(options.build());
    }

    /**
     * Every client the product builds (workers, CLI commands, the dev stack and the demo) comes from here, so they
     * all share one data converter: a process that could not read what another wrote would stall workflow tasks.
     */
    public static WorkflowClient client(WorkflowServiceStubs stubs, WorkerSettings s) {
        return WorkflowClient.newInstance(stubs, WorkflowClientOptions.newBuilder().setNamespace(s.namespace())
                .setDataConverter(dataConverter(s)).build());
    }

    /**
     * With codec keys, payloads are AES-GCM encrypted, and so are failure messages and stack traces
     * ({@code encodeFailureAttributes}): they quote config values and file paths, and Temporal otherwise stores
     * them in clear text. Without keys, the SDK's default converter, so existing deployments see no change.
     */
    public static DataConverter dataConverter(WorkerSettings s) {
        if (s.codecKeys() == null) {
            return GlobalDataConverter.get();
        }
        return new CodecDataConverter(DefaultDataConverter.newDefaultInstance(),
                List.of(new EncryptionCodec(s.codecKeys())), true);
    }

    private static javax.net.ssl.TrustManager trustManager(WorkerSettings s) throws IOException {
        try (InputStream in = Files.newInputStream(s.tls().caCert())) {
            var cf = java.security.cert.CertificateFactory.getInstance("X.509");
            var ks = java.security.KeyStore.getInstance(java.security.KeyStore.getDefaultType());
            ks.load(null, null);
            int i = 0;
            for (var cert : cf.generateCertificates(in)) {
                ks.setCertificateEntry("ca-" + i++, cert);
            }
            var tmf = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(ks);
            return tmf.getTrustManagers()[0];
        } catch (java.security.GeneralSecurityException e) {
            throw new IOException("bad CA certificate " + s.tls().caCert() + ": " + e.getMessage(), e);
        }
    }

    private static InputStream open(java.nio.file.Path p) throws IOException {
        return p == null ? null : Files.newInputStream(p);
    }
}
