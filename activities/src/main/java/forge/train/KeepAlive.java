package forge.train;

import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;

/**
 * Reports progress on the training thread's behalf while it is inside one long call — an evaluation that
 * generates hundreds of answers, a stage's setup — so that a heartbeat timeout sized for training steps does not
 * declare a busy worker dead. Bounded by the call: once it returns, only training steps report again.
 */
public final class KeepAlive {
    // Well inside the shortest heartbeat timeout a spec may set (5 s); the SDK throttles what reaches the server.
    private static final long PERIOD_MILLIS = 1_000;
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "forge-keepalive");
        t.setDaemon(true);
        return t;
    });

    private KeepAlive() {
    }

    public static <T> T during(StageControl control, TrainingProgress progress, Supplier<T> work) {
        try (Running beat = start(control, progress)) {
            return work.get();
        }
    }

    /**
     * Reports until closed: for a stage's setup (reading data, training a tokenizer, loading parents), which ends
     * where its training loop begins. Closing twice is fine.
     */
    public static Running start(StageControl control, TrainingProgress progress) {
        if (control == StageControl.NONE) {
            return new Running(null);
        }
        return new Running(TIMER.scheduleAtFixedRate(() -> control.progress(progress), PERIOD_MILLIS, PERIOD_MILLIS,
                TimeUnit.MILLISECONDS));
    }

    /** A keep-alive in progress. */
    public static final class Running implements AutoCloseable {
        private final ScheduledFuture<?> beat;

        private Running(ScheduledFuture<?> beat) {
            this.beat = beat;
        }

        @Override
        public void close() {
            if (beat != null) {
                beat.cancel(false);
            }
        }
    }

    /**
     * A stage's setup, before it knows where it resumes: the step an earlier attempt reached, so that neither the UI
     * nor the next attempt's count of lost steps sees the stage go back to 0.
     */
    public static TrainingProgress settingUp(StageControl control, long totalSteps) {
        return new TrainingProgress(control.previousAttemptStep().orElse(0), totalSteps, Double.NaN, 0, null, Map.of());
    }

    /** Before the first step: step 0 of totalSteps. */
    public static TrainingProgress starting(long totalSteps) {
        return new TrainingProgress(0, totalSteps, Double.NaN, 0, null, Map.of());
    }
}
