package forge.workflow;

import io.temporal.activity.Activity;
import io.temporal.activity.ActivityExecutionContext;
import io.temporal.api.common.v1.WorkflowExecution;
import io.temporal.api.enums.v1.EventType;
import io.temporal.api.enums.v1.IndexedValueType;
import io.temporal.common.WorkflowExecutionHistory;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Months of a pipeline in seconds, on Temporal's time-skipping test server: a fake stage "trains" by letting
 * simulated time pass, commits a checkpoint every {@link #CHECKPOINT_EVERY}, is paused by its user every few hours,
 * and loses its worker every few attempts. The pipeline must complete with every step accounted for, its status right
 * whenever it is looked at, and every workflow run's history under {@link #HISTORY_BOUND} events.
 */
class SimulatedWeeksTest {
    static final Duration CHECKPOINT_EVERY = Duration.ofMinutes(7);
    static final long STEPS_PER_CHECKPOINT = 100;
    /**
     * Coalesced like the real stages (at most one stageProgress signal per interval, heartbeats carry every step):
     * one signal per this many checkpoints, 42 simulated minutes.
     */
    static final int SIGNAL_EVERY = 6;
    /** A user pauses after every this many checkpoints (about every 10 hours) and resumes two hours later. */
    static final int PAUSE_EVERY = 90;
    static final Duration PAUSED_FOR = Duration.ofHours(2);
    /** Every this-many-th attempt loses its worker after three checkpoints (until {@link #LOSSES} have). */
    static final int LOSE_EVERY = 3;
    static final int LOSSES = 25;
    static final Duration HEARTBEAT_TIMEOUT = Duration.ofMinutes(10);
    /** The spec's history_limit_events: lower than the default 4,000 so that these weeks take several rotations. */
    static final int HISTORY_LIMIT = 2_000;
    /**
     * What no workflow run's history may exceed: the limit plus what a rotation takes to stop the running attempt
     * (its stop checkpoint, a signal or two). Well under the 10,240 events at which Temporal starts warning.
     */
    static final int HISTORY_BOUND = HISTORY_LIMIT + 500;

    private final SimStage stage = new SimStage();
    private final PipelineEnv env = new PipelineEnv(stage);

    @AfterEach
    void close() {
        env.close();
    }

    @Test
    void eightWeeksOfCheckpointsPausesAndLostWorkersStayWithinTheHistoryBound() throws Exception {
        env.env.registerSearchAttribute("ForgeStage", IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
        env.env.registerSearchAttribute("ForgeState", IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD);
        env.env.registerSearchAttribute("ForgeStep", IndexedValueType.INDEXED_VALUE_TYPE_INT);
        env.control.searchAttributes = List.of("ForgeStage", "ForgeState", "ForgeStep");
        stage.env = env;
        // About 5.5 weeks of pretraining, 4 and 3.5 days of SFT and reward modelling, 5 days of PPO, at one checkpoint
        // per 7 minutes: 10,500 checkpoints, and with the pauses and lost attempts more than 8 weeks.
        Map<String, Long> steps = Map.of("pretrain", 800_000L, "sft", 80_000L, "reward", 70_000L, "ppo", 100_000L);
        String spec = "{\"history_limit_events\": " + HISTORY_LIMIT + ", \"stages\": {"
                + stageSpec("pretrain", steps) + ", " + stageSpec("sft", steps) + ", "
                + stageSpec("reward", steps) + ", " + stageSpec("ppo", steps) + "}}";
        long realStart = System.nanoTime();
        WorkflowExecution first = env.start("weeks", PipelineEnv.json(spec));
        PipelineResult result = env.stub("weeks").getResult(10, TimeUnit.MINUTES, PipelineResult.class);
        double realSeconds = (System.nanoTime() - realStart) / 1e9;
        Duration simulated = Duration.ofMillis(Math.round(result.wallSeconds() * 1000));

        assertEquals(List.of(), stage.wrongStatus, "status was wrong when looked at");
        assertEquals(PipelineState.COMPLETED, result.state(), String.valueOf(result.error()));
        steps.forEach((name, n) -> {
            assertEquals(n, result.stages().get(name).steps(), name);
            assertEquals(n, stage.committed.get(name).get(), name + ": every step committed once");
        });

        List<WorkflowExecutionHistory> runs = env.runs(first);
        int largest = runs.stream().mapToInt(h -> h.getEvents().size()).max().orElseThrow();
        long continuedAsNew = runs.stream().filter(h -> h.getLastEvent().getEventType()
                == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW).count();
        System.out.printf("simulated %.1f days in %.1f s: %d checkpoints, %d pauses, %d lost attempts, %d attempts, "
                        + "%d workflow runs, largest history %d events (bound %d)%n",
                simulated.toHours() / 24.0, realSeconds, stage.checkpoints.get(), stage.pauses.get(),
                stage.lost.get(), stage.attempts.get(), runs.size(), largest, HISTORY_BOUND);
        assertTrue(simulated.compareTo(Duration.ofDays(56)) >= 0, "at least 8 simulated weeks: " + simulated);
        assertTrue(stage.checkpoints.get() >= 10_000, "checkpoints: " + stage.checkpoints.get());
        assertTrue(stage.pauses.get() >= 100, "pauses: " + stage.pauses.get());
        assertTrue(stage.lost.get() >= 20, "lost attempts: " + stage.lost.get());
        assertTrue(largest <= HISTORY_BOUND, "largest history " + largest + " events");
        assertEquals(runs.size() - 1, continuedAsNew, "every run but the last continued as new");
        assertTrue(runs.size() >= 5, "the history was rotated: " + runs.size() + " runs");

        // The user's view at the end: one pipeline, the same id, all of it.
        PipelineStatus status = env.pipeline("weeks").status();
        assertEquals(PipelineState.COMPLETED, status.state());
        assertEquals(runs.size(), status.workflowRuns());
        int attemptsSeen = status.stages().values().stream().mapToInt(StageStatus::attempt).sum();
        assertEquals(stage.attempts.get(), attemptsSeen, "status counts every attempt, across runs");
        assertEquals(PipelineState.COMPLETED.name(), searchAttribute("weeks", "ForgeState"));
        assertEquals("ppo", searchAttribute("weeks", "ForgeStage"));
    }

    private Object searchAttribute(String id, String name) {
        var described = env.client.getWorkflowServiceStubs().blockingStub().describeWorkflowExecution(
                io.temporal.api.workflowservice.v1.DescribeWorkflowExecutionRequest.newBuilder()
                        .setNamespace(env.client.getOptions().getNamespace())
                        .setExecution(WorkflowExecution.newBuilder().setWorkflowId(id)).build());
        var payload = described.getWorkflowExecutionInfo().getSearchAttributes().getIndexedFieldsMap().get(name);
        return payload == null ? null : io.temporal.common.converter.DefaultDataConverter.STANDARD_INSTANCE
                .fromPayload(payload, String.class, String.class);
    }

    private static String stageSpec(String name, Map<String, Long> steps) {
        return "\"" + name + "\": {\"sim_steps\": " + steps.get(name) + ", \"heartbeat_timeout_seconds\": "
                + HEARTBEAT_TIMEOUT.toSeconds() + ", \"retry\": {\"initial_interval_seconds\": 60}}";
    }

    /**
     * A stage that trains by waiting out simulated time. {@link #committed} stands for the stage's checkpoints in
     * S3: an attempt resumes from it, commits to it, and a lost attempt commits nothing after it went silent.
     */
    static final class SimStage implements StageActivities {
        volatile PipelineEnv env;
        final Map<String, AtomicLong> committed = new ConcurrentHashMap<>();
        final AtomicInteger attempts = new AtomicInteger();
        final AtomicInteger checkpoints = new AtomicInteger();
        final AtomicInteger pauses = new AtomicInteger();
        final AtomicInteger lost = new AtomicInteger();
        final AtomicInteger live = new AtomicInteger();
        final List<String> wrongStatus = new CopyOnWriteArrayList<>();

        private StageResult run(StageInput input) {
            ActivityExecutionContext ctx = Activity.getExecutionContext();
            String name = input.stage();
            long total = input.config().path("sim_steps").asLong();
            AtomicLong done = committed.computeIfAbsent(name, k -> new AtomicLong());
            int n = attempts.incrementAndGet();
            boolean loses = n % LOSE_EVERY == 0 && lost.get() < LOSSES;
            live.incrementAndGet();
            try {
                heartbeat(ctx, progress(name, done.get(), total));
                expect(input, name, n);
                for (int sinceStart = 0; done.get() < total; sinceStart++) {
                    env.env.sleep(CHECKPOINT_EVERY);
                    if (loses && sinceStart == 3) {
                        // The pod is partitioned away: alive, silent, committing nothing; its result comes too late.
                        lost.incrementAndGet();
                        live.decrementAndGet();
                        env.env.sleep(HEARTBEAT_TIMEOUT.plusMinutes(1));
                        live.incrementAndGet();
                        return ScriptedStage.done(name, -1);
                    }
                    long step = Math.min(total, done.get() + STEPS_PER_CHECKPOINT);
                    done.set(step);
                    int c = checkpoints.incrementAndGet();
                    // A cancellation (pause, rotation, cancel) arrives on a heartbeat: the checkpoint is committed.
                    heartbeat(ctx, progress(name, step, total));
                    if (sinceStart == 0 || c % SIGNAL_EVERY == 0) {
                        env.client.newUntypedWorkflowStub("weeks").signal("stageProgress", progress(name, step, total));
                        // Simulated time may jump only once the workflow has taken the signal in, or the jump would
                        // time out its workflow task.
                        waitReal(() -> env.pipeline("weeks").status().stages().get(name).step() >= step);
                    }
                    if (c % 500 == 0) {
                        expect(input, name, n);
                    }
                    if (c % PAUSE_EVERY == 0) {
                        pause();
                        // The stop arrives on a heartbeat; checkpointing until then would be steps a pause loses.
                        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
                        while (System.nanoTime() < deadline) {
                            heartbeat(ctx, progress(name, step, total));
                            Thread.sleep(2);
                        }
                    }
                }
                return new StageResult(name, "COMPLETED", total, 0, 0, "s3://b/" + name + "/final", Map.of(),
                        List.of());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException(e);
            } finally {
                live.decrementAndGet();
            }
        }

        /** Synchronous, unlike {@code ctx.heartbeat}: the server has it before simulated time moves on. */
        private void heartbeat(ActivityExecutionContext ctx, StageProgress p) {
            env.client.newActivityCompletionClient().heartbeat(ctx.getTaskToken(), p);
        }

        private static void waitReal(java.util.function.BooleanSupplier condition) throws InterruptedException {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!condition.getAsBoolean() && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
        }

        private void pause() {
            pauses.incrementAndGet();
            env.client.newUntypedWorkflowStub("weeks").signal("pause");
            env.env.registerDelayedCallback(PAUSED_FOR, () -> {
                PipelineStatus s = env.pipeline("weeks").status();
                if (s.state() != PipelineState.PAUSED || live.get() != 0) {
                    wrongStatus.add("two hours after a pause: " + s.state() + " with " + live.get()
                            + " attempts running");
                }
                env.client.newUntypedWorkflowStub("weeks").signal("resume");
            });
        }

        /** The status query as a user sees it mid-attempt: this stage, running, on this attempt. */
        private void expect(StageInput input, String name, int attempt) {
            PipelineStatus s = env.pipeline("weeks").status();
            StageStatus st = s.stages().get(name);
            if (!name.equals(s.currentStage()) || st == null || st.attempt() != input.attempt()
                    || st.step() > committed.get(name).get()) {
                wrongStatus.add("attempt " + attempt + " of " + name + ": " + s);
            }
        }

        private static StageProgress progress(String stage, long step, long total) {
            return new StageProgress(stage, step, total, 2.0, "s3://b/" + stage + "/step-" + step, Map.of());
        }

        @Override
        public StageResult pretrain(StageInput input) {
            return run(input);
        }

        @Override
        public StageResult sft(StageInput input) {
            return run(input);
        }

        @Override
        public StageResult reward(StageInput input) {
            return run(input);
        }

        @Override
        public StageResult ppo(StageInput input) {
            return run(input);
        }

        @Override
        public StageResult grpo(StageInput input) {
            return run(input);
        }

        @Override
        public StageResult dpo(StageInput input) {
            return run(input);
        }
    }
}
