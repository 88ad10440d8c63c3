package forge.train;

import java.util.OptionalLong;

/**
 * How a training loop talks to whatever runs it — a Temporal activity, a test, a benchmark — without knowing
 * which. The loop has no Temporal imports; the activity implements this with heartbeats and signals.
 */
public interface StageControl {
    /** Called after every step; implementations throttle (Temporal already does for heartbeats). */
    void progress(TrainingProgress progress);

    /** A checkpoint was committed or a validation finished: rarer events worth recording in the workflow. */
    void milestone(TrainingProgress progress);

    /** True once the runner wants the stage to write a checkpoint and stop (pause, cancel, preemption). */
    boolean stopRequested();

    /** The last step an earlier attempt of this stage reported before it ended, if the runner knows it. */
    default OptionalLong previousAttemptStep() {
        return OptionalLong.empty();
    }

    StageControl NONE = new StageControl() {
        @Override
        public void progress(TrainingProgress progress) {}

        @Override
        public void milestone(TrainingProgress progress) {}

        @Override
        public boolean stopRequested() {
            return false;
        }
    };
}
