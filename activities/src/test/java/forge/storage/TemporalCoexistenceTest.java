package forge.storage;

import io.temporal.activity.ActivityInterface;
import io.temporal.activity.ActivityOptions;
import io.temporal.client.WorkflowClient;
import io.temporal.client.WorkflowOptions;
import io.temporal.common.WorkflowExecutionHistory;
import io.temporal.testing.TestWorkflowEnvironment;
import io.temporal.worker.Worker;
import io.temporal.workflow.Workflow;
import io.temporal.workflow.WorkflowInterface;
import io.temporal.workflow.WorkflowMethod;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * S3Proxy drags in its own protobuf, Jackson, Guava and Netty; the Temporal SDK needs its own. Workers run both in
 * one JVM, so this runs a real workflow whose activity does an S3 round trip, then renders the history as JSON
 * (protobuf-java-util), touching every library the two sides share.
 */
class TemporalCoexistenceTest {
    private static final String QUEUE = "coexist";

    @WorkflowInterface
    public interface RoundTripWorkflow {
        @WorkflowMethod
        String run(String uri, String text);
    }

    @ActivityInterface
    public interface S3Activities {
        String roundTrip(String uri, String text);
    }

    public static class RoundTripWorkflowImpl implements RoundTripWorkflow {
        private final S3Activities activities = Workflow.newActivityStub(S3Activities.class,
                ActivityOptions.newBuilder().setStartToCloseTimeout(Duration.ofSeconds(30)).build());

        @Override
        public String run(String uri, String text) {
            return activities.roundTrip(uri, text);
        }
    }

    record S3ActivitiesImpl(S3Storage s3) implements S3Activities {
        @Override
        public String roundTrip(String uri, String text) {
            S3Uri target = S3Uri.parse(uri);
            s3.put(target, text.getBytes(StandardCharsets.UTF_8));
            return new String(s3.get(target), StandardCharsets.UTF_8);
        }
    }

    @Test
    void workflowWithS3ActivityRunsNextToS3Proxy(@TempDir Path dir) {
        try (EmbeddedS3 server = LocalS3.start(dir);
             S3Storage s3 = new S3Storage(server.settings("coexist"), LocalS3.testOptions());
             TestWorkflowEnvironment env = TestWorkflowEnvironment.newInstance()) {
            Worker worker = env.newWorker(QUEUE);
            worker.registerWorkflowImplementationTypes(RoundTripWorkflowImpl.class);
            worker.registerActivitiesImplementations(new S3ActivitiesImpl(s3));
            env.start();

            WorkflowClient client = env.getWorkflowClient();
            RoundTripWorkflow wf = client.newWorkflowStub(RoundTripWorkflow.class,
                    WorkflowOptions.newBuilder().setTaskQueue(QUEUE).setWorkflowId("coexist-1").build());
            String uri = server.settings("coexist").root().resolve("hello.txt").toString();
            assertEquals("hällo", wf.run(uri, "hällo"));

            WorkflowExecutionHistory history = client.fetchHistory("coexist-1");
            String json = history.toJson(true);
            assertTrue(json.contains("WORKFLOW_EXECUTION_COMPLETED") || json.contains("WorkflowExecutionCompleted"),
                    json.substring(0, Math.min(300, json.length())));
            assertEquals(history.getEvents().size(), WorkflowExecutionHistory.fromJson(json).getEvents().size());
        }
    }
}
