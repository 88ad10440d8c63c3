package forge.worker;

import io.micrometer.core.instrument.MeterRegistry;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowClientOptions;
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

/** One place that turns settings into a Temporal client: address, namespace, TLS or mTLS, API key, metrics. */
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

    public static WorkflowClient client(WorkflowServiceStubs stubs, WorkerSettings s) {
        return WorkflowClient.newInstance(stubs, WorkflowClientOptions.newBuilder().setNamespace(s.namespace()).build());
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
