package forge.activities;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Milestones become signals at most once per interval, except the ones the workflow needs at once. */
class ProgressSignalsTest {
    private final AtomicLong now = new AtomicLong(1_000_000);
    private final ProgressSignals signals = new ProgressSignals(now::get, Duration.ofMinutes(5));

    private void minutes(long m) {
        now.addAndGet(Duration.ofMinutes(m).toMillis());
    }

    @Test
    void oneSignalPerIntervalWithTheFirstNewCheckpointAndEveryStopAtOnce() {
        assertTrue(signals.due("s3://b/step-100", false), "an attempt's first milestone: the workflow sees it started");
        minutes(1);
        assertTrue(signals.due("s3://b/step-200", false), "its first new checkpoint: the attempt made progress");
        minutes(1);
        assertFalse(signals.due("s3://b/step-300", false), "coalesced: the heartbeat carries it");
        assertFalse(signals.due("s3://b/step-300", false), "an evaluation in between: coalesced too");
        minutes(4);
        assertTrue(signals.due("s3://b/step-400", false), "five minutes after the last signal");
        minutes(1);
        assertTrue(signals.due("s3://b/step-450", true), "the stop checkpoint of a pause is what resume starts from");
        int sent = 0;
        for (int i = 0; i < 60; i++) { // an hour of one checkpoint a minute
            minutes(1);
            sent += signals.due("s3://b/step-" + (500 + i), false) ? 1 : 0;
        }
        assertTrue(sent == 12, "one signal per five minutes, got " + sent);
    }
}
