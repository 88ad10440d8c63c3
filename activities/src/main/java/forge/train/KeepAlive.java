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
    private static final long PERIOD_MILLIS = 5_000;
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "forge-keepalive");
        t.setDaemon(true);
        return t;
    });

    private KeepAlive() {
    }

    public static <T> T during(StageControl control, TrainingProgress progress, Supplier<T> work) {
        if (control == StageControl.NONE) {
            return work.get();
        }
        ScheduledFuture<?> beat = TIMER.scheduleAtFixedRate(() -> control.progress(progress), PERIOD_MILLIS,
                PERIOD_MILLIS, TimeUnit.MILLISECONDS);
        try {
            return work.get();
        } finally {
            beat.cancel(false);
        }
    }

    /** Before the first step: step 0 of totalSteps. */
    public static TrainingProgress starting(long totalSteps) {
        return new TrainingProgress(0, totalSteps, Double.NaN, 0, null, Map.of());
    }
}
