package forge.e2e;

import forge.worker.Role;
import forge.worker.WorkerProcess;
import forge.workflow.PipelineResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** A worker's /metrics endpoint, scraped after a run: training metrics and the Temporal SDK's own. */
class MetricsEndpointTest {
    @TempDir
    Path dir;

    @Test
    void workerServesTrainingAndTemporalMetrics() throws Exception {
        try (TestStack stack = new TestStack(dir)) {
            try (WorkerProcess worker = WorkerProcess.start(stack.settings.withMetricsPort(0), Role.ALL,
                    List.of(forge.workflow.TaskQueues.GPU))) {
                stack.start("metrics-run", TestStack.tinySpec(60, 30)).getResult(2, TimeUnit.MINUTES, PipelineResult.class);
                Thread.sleep(11_000); // the SDK reports its metrics every 10 s
                String body = HttpClient.newHttpClient().send(
                        HttpRequest.newBuilder(URI.create(worker.metricsAddress())).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
                for (String metric : List.of("forge_train_loss{", "forge_validation_loss{", "forge_tokens_per_second{",
                        "forge_step{", "forge_checkpoint_write_seconds_count{", "forge_tokens_trained_total{")) {
                    assertTrue(body.contains(metric), metric + " missing from /metrics");
                }
                assertTrue(body.contains("run=\"metrics-run\"") && body.contains("stage=\"pretrain\""), "labels");
                assertTrue(body.lines().anyMatch(l -> l.startsWith("temporal_")), "Temporal SDK metrics missing");
            }
        }
    }
}
