package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.temporal.activity.Activity;
import io.temporal.client.ActivityCompletionException;
import io.temporal.client.WorkflowFailedException;
import io.temporal.client.WorkflowStub;
import io.temporal.failure.ApplicationFailure;
import io.temporal.testing.TestWorkflowEnvironment;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The workflow's own logic — spec checks, pause/resume around a cancellable stage, status — against Temporal's
 * test server, with a stage activity that counts steps and honours cancellation as the real one does.
 */
class TrainingPipelineTest {
    private PipelineEnv envs;
    private TestWorkflowEnvironment env;
    private CountingStage stage;

    @BeforeEach
    void setUp() {
        stage = new CountingStage();
        envs = new PipelineEnv(stage);
        env = envs.env;
    }

    @AfterEach
    void tearDown() {
        envs.close();
    }

    @Test
    void pauseCheckpointsTheStageAndResumeContinuesFromIt() throws Exception {
        TrainingPipeline pipeline = start("paused-run", spec(8000));
        WorkflowStub stub = WorkflowStub.fromTyped(pipeline);
        waitUntil(() -> stage.step.get() >= 20);
        pipeline.pause();
        waitUntil(() -> pipeline.status().state() == PipelineState.PAUSED);
        long pausedAt = stage.step.get();
        assertEquals(List.of(pausedAt), stage.checkpoints, "pausing writes one checkpoint");
        env.sleep(Duration.ofSeconds(5));
        assertEquals(pausedAt, stage.step.get(), "no training while paused");

        pipeline.resume();
        PipelineResult result = stub.getResult(30, TimeUnit.SECONDS, PipelineResult.class);
        assertEquals(PipelineState.COMPLETED, result.state());
        assertEquals(8000, result.stages().get("pretrain").steps());
        assertEquals(2, stage.attempts.get(), "resume runs the stage again, from its checkpoint");
        assertEquals(PipelineState.COMPLETED, pipeline.status().state());
        assertEquals(PipelineState.COMPLETED, pipeline.status().stages().get("pretrain").state());
    }

    @Test
    void badSpecFailsTheRunWithoutRetryingAndNamesTheKey() throws Exception {
        TrainingPipeline pipeline = start("bad-spec", new ObjectMapper().readTree("{\"stages\": {}, \"stagse\": 1}"));
        WorkflowFailedException e = assertThrows(WorkflowFailedException.class,
                () -> WorkflowStub.fromTyped(pipeline).getResult(10, TimeUnit.SECONDS, PipelineResult.class));
        ApplicationFailure failure = (ApplicationFailure) e.getCause();
        assertTrue(failure.getOriginalMessage().contains("stagse"), failure.getOriginalMessage());
        assertTrue(failure.isNonRetryable());
        assertEquals(0, stage.attempts.get());
        assertEquals(List.of(), envs.control.calls, "a spec the workflow cannot parse is not checked further");
    }

    @Test
    void specNamesStagesInRecipeOrder() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(
                new ObjectMapper().readTree("{\"stages\": {\"ppo\": {}, \"pretrain\": {}}}")));
        assertTrue(e.getMessage().contains("must appear in the order [pretrain, sft, reward, ppo, grpo, dpo]"),
                e.getMessage());
    }

    @Test
    void progressSignalsReachTheStatusQuery() throws Exception {
        TrainingPipeline pipeline = start("progress-run", spec(100_000));
        waitUntil(() -> stage.step.get() >= 5);
        pipeline.stageProgress(new StageProgress("pretrain", 5, 100_000, 2.5, "s3://b/x/step-000000005", Map.of("valLoss", 2.7)));
        StageStatus s = pipeline.status().stages().get("pretrain");
        assertEquals(5, s.step());
        assertEquals(2.5, s.metrics().get("loss"));
        assertEquals("s3://b/x/step-000000005", s.checkpoint());
        WorkflowStub.fromTyped(pipeline).cancel();
        assertThrows(Exception.class, () -> WorkflowStub.fromTyped(pipeline).getResult(10, TimeUnit.SECONDS, PipelineResult.class));
        assertEquals(PipelineState.CANCELLED, pipeline.status().state());
        assertEquals(1, stage.checkpoints.size(), "cancel writes a checkpoint too");
    }

    @Test
    void sftStartsFromThePretrainStagesOutput() throws Exception {
        TrainingPipeline pipeline = start("chained", new ObjectMapper().readTree(
                "{\"stages\": {\"pretrain\": {\"steps\": 10}, \"sft\": {}}}"));
        PipelineResult result = WorkflowStub.fromTyped(pipeline).getResult(30, TimeUnit.SECONDS, PipelineResult.class);
        assertEquals(PipelineState.COMPLETED, result.state());
        assertEquals(List.of("s3://b/final"), stage.sftParents);
        assertEquals("s3://b/sft/final", result.stages().get("sft").checkpoint());
    }

    @Test
    void aSpecStartingAtSftMustNameItsCheckpoint() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(
                new ObjectMapper().readTree("{\"stages\": {\"sft\": {}}}")));
        assertTrue(e.getMessage().startsWith("stages.sft.init_from"), e.getMessage());
        TrainingPipeline pipeline = start("from-sft", new ObjectMapper().readTree(
                "{\"stages\": {\"sft\": {\"init_from\": \"s3://b/other/final/\"}}}"));
        assertEquals(PipelineState.COMPLETED,
                WorkflowStub.fromTyped(pipeline).getResult(30, TimeUnit.SECONDS, PipelineResult.class).state());
        assertEquals(List.of("null"), stage.sftParents, "the stage reads init_from from its own config");
    }

    @Test
    void ppoReceivesThePolicyAndTheRewardModelOfItsRun() throws Exception {
        TrainingPipeline pipeline = start("four", new ObjectMapper().readTree(
                "{\"stages\": {\"pretrain\": {\"steps\": 10}, \"sft\": {}, \"reward\": {}, \"ppo\": {}}}"));
        PipelineResult result = WorkflowStub.fromTyped(pipeline).getResult(30, TimeUnit.SECONDS, PipelineResult.class);
        assertEquals(PipelineState.COMPLETED, result.state());
        StageInput ppo = stage.ppoInputs.get(0);
        assertEquals("s3://b/reward/final", ppo.parentCheckpoint());
        assertEquals("s3://b/sft/final", ppo.earlierOutputs().get("sft"));
        assertEquals("s3://b/final", ppo.earlierOutputs().get("pretrain"));
    }

    @Test
    void aSpecWithoutSftOrRewardBeforePpoMustNameThem() throws Exception {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(
                new ObjectMapper().readTree("{\"stages\": {\"ppo\": {\"init_from\": \"s3://b/sft/final/\"}}}")));
        assertTrue(e.getMessage().startsWith("stages.ppo.reward_from"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(new ObjectMapper().readTree(
                "{\"stages\": {\"reward\": {\"init_from\": \"s3://b/sft/final/\"}, \"ppo\": {}}}")));
        assertTrue(e.getMessage().startsWith("stages.ppo.init_from"), e.getMessage());
    }

    @Test
    void grpoAndDpoReceiveTheSftPolicyOfTheirRun() throws Exception {
        TrainingPipeline pipeline = start("rl", new ObjectMapper().readTree(
                "{\"stages\": {\"pretrain\": {\"steps\": 10}, \"sft\": {}, \"reward\": {}, \"grpo\": {}, \"dpo\": {}}}"));
        PipelineResult result = WorkflowStub.fromTyped(pipeline).getResult(30, TimeUnit.SECONDS, PipelineResult.class);
        assertEquals(PipelineState.COMPLETED, result.state());
        assertEquals(List.of("pretrain", "sft", "reward", "grpo", "dpo"), List.copyOf(result.stages().keySet()));
        StageInput grpo = stage.rlInputs.get(0);
        assertEquals("grpo", grpo.stage());
        assertEquals("s3://b/sft/final", grpo.earlierOutputs().get("sft"));
        assertEquals("s3://b/reward/final", grpo.earlierOutputs().get("reward"));
        assertEquals("dpo", stage.rlInputs.get(1).stage());
        assertEquals("s3://b/sft/final", stage.rlInputs.get(1).earlierOutputs().get("sft"));
    }

    @Test
    void grpoAndDpoNeedAPolicyAndAGrpoRewardModelNeedsItsSource() throws Exception {
        for (String stage : List.of("grpo", "dpo")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(
                    new ObjectMapper().readTree("{\"stages\": {\"pretrain\": {}, \"" + stage + "\": {}}}")));
            assertTrue(e.getMessage().startsWith("stages." + stage + ".init_from"), e.getMessage());
        }
        String withModel = "{\"stages\": {\"grpo\": {\"init_from\": \"s3://b/sft/final/\", \"rewards\": "
                + "[{\"type\": \"hidden_rule\"}, {\"type\": \"reward_model\"}]%s}}}";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> PipelineSpec.parse(
                new ObjectMapper().readTree(withModel.formatted(""))));
        assertTrue(e.getMessage().startsWith("stages.grpo.reward_from: rewards[1] is a reward_model"), e.getMessage());
        PipelineSpec.parse(new ObjectMapper().readTree(withModel.formatted(", \"reward_from\": \"s3://b/reward/final/\"")));
        PipelineSpec.parse(new ObjectMapper().readTree("{\"stages\": {\"grpo\": {\"init_from\": \"s3://b/sft/final/\", "
                + "\"rewards\": [{\"type\": \"hidden_rule\"}]}}}"));
    }

    private TrainingPipeline start(String id, JsonNode spec) {
        envs.start(id, spec);
        return envs.pipeline(id);
    }

    private static JsonNode spec(long steps) throws Exception {
        return new ObjectMapper().readTree("{\"name\": \"t\", \"stages\": {\"pretrain\": {\"heartbeat_timeout_seconds\": 2, \"steps\": " + steps + "}}}");
    }

    private static void waitUntil(java.util.function.BooleanSupplier condition) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("condition not met in 20 s");
            }
            Thread.sleep(20);
        }
    }

    /** Counts "steps" and, like the real stage, checkpoints and stops when a heartbeat reports cancellation. */
    static final class CountingStage implements StageActivities {
        final AtomicLong step = new AtomicLong();
        final AtomicLong attempts = new AtomicLong();
        final List<Long> checkpoints = new CopyOnWriteArrayList<>();

        final List<String> sftParents = new CopyOnWriteArrayList<>();

        @Override
        public StageResult sft(StageInput input) {
            sftParents.add(String.valueOf(input.parentCheckpoint()));
            return new StageResult("sft", "COMPLETED", 3, 0, 0, "s3://b/sft/final", Map.of(), List.of());
        }

        final List<StageInput> ppoInputs = new CopyOnWriteArrayList<>();

        @Override
        public StageResult reward(StageInput input) {
            return new StageResult("reward", "COMPLETED", 3, 0, 0, "s3://b/reward/final", Map.of(), List.of());
        }

        @Override
        public StageResult ppo(StageInput input) {
            ppoInputs.add(input);
            return new StageResult("ppo", "COMPLETED", 3, 0, 0, "s3://b/ppo/final", Map.of(), List.of());
        }

        final List<StageInput> rlInputs = new CopyOnWriteArrayList<>();

        @Override
        public StageResult grpo(StageInput input) {
            rlInputs.add(input);
            return new StageResult("grpo", "COMPLETED", 3, 0, 0, "s3://b/grpo/final", Map.of(), List.of());
        }

        @Override
        public StageResult dpo(StageInput input) {
            rlInputs.add(input);
            return new StageResult("dpo", "COMPLETED", 3, 0, 0, "s3://b/dpo/final", Map.of(), List.of());
        }

        @Override
        public StageResult pretrain(StageInput input) {
            attempts.incrementAndGet();
            long total = input.config().get("steps").asLong();
            var ctx = Activity.getExecutionContext();
            while (step.get() < total) {
                try {
                    ctx.heartbeat(step.get());
                } catch (ActivityCompletionException e) {
                    checkpoints.add(step.get());
                    throw e;
                }
                step.incrementAndGet();
                try {
                    Thread.sleep(1);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            }
            return new StageResult("pretrain", "COMPLETED", total, 0, 0, "s3://b/final", Map.of(), List.of());
        }
    }
}
