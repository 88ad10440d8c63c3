package forge.activities;

import java.time.Duration;
import java.util.Objects;
import java.util.function.LongSupplier;

/**
 * Decides which of an attempt's milestones (checkpoints, evaluations) become a {@code stageProgress} signal. Every
 * signal is a few events of workflow history, so they are coalesced to at most one per interval, except those the
 * workflow needs: the attempt's first milestone, its first new checkpoint (which tells the workflow the attempt made
 * progress, so its failure does not count as the same error again) and the stop checkpoint of a pause or rotation
 * (which resume continues from). Heartbeat details still carry every step, for {@code watch} and the UI.
 */
final class ProgressSignals {
    static final Duration DEFAULT_INTERVAL = Duration.ofMinutes(5);

    private final LongSupplier clockMillis;
    private final long intervalMillis;
    private boolean anySent;
    private String firstCheckpoint;
    private boolean newCheckpointSent;
    private long lastSentAt;

    ProgressSignals(LongSupplier clockMillis, Duration interval) {
        this.clockMillis = clockMillis;
        this.intervalMillis = interval.toMillis();
    }

    static ProgressSignals standard() {
        return new ProgressSignals(System::currentTimeMillis, DEFAULT_INTERVAL);
    }

    /**
     * @param checkpoint the last committed checkpoint the milestone reports (null before the first)
     * @param stopping   the milestone is the stop checkpoint of a pause, cancel or shutdown
     * @return whether to signal; if so, it counts as sent
     */
    synchronized boolean due(String checkpoint, boolean stopping) {
        long now = clockMillis.getAsLong();
        boolean due;
        if (!anySent) {
            firstCheckpoint = checkpoint;
            due = true;
        } else if (!newCheckpointSent && checkpoint != null && !Objects.equals(checkpoint, firstCheckpoint)) {
            due = true;
        } else {
            due = stopping || now - lastSentAt >= intervalMillis;
        }
        if (due) {
            anySent = true;
            newCheckpointSent |= checkpoint != null && !Objects.equals(checkpoint, firstCheckpoint);
            lastSentAt = now;
        }
        return due;
    }
}
