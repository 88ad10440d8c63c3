package forge.workflow;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Function;

import io.temporal.failure.ApplicationFailure;

/**
 * The control worker's bookkeeping for workflow tests: remembers each run id's spec hash as the real one does in S3,
 * and reports whichever search attributes the test registered. Also answers the stage checks.
 */
final class FakeControl implements PipelineActivities, StageChecks {
    final List<String> calls = new CopyOnWriteArrayList<>();
    final Map<String, String> recordedSpecs = new ConcurrentHashMap<>();
    final List<PipelineResult> summaries = new CopyOnWriteArrayList<>();
    volatile List<String> searchAttributes = List.of();
    /** Returns a BadInput message for a stage's check, or null to accept it. */
    volatile Function<StageInput, String> stageCheck = in -> null;

    @Override
    public String publishSummary(PipelineResult result) {
        calls.add("PublishSummary");
        summaries.add(result);
        return "s3://test/summary.json";
    }

    @Override
    public RunCheckResult checkRun(RunCheck check) {
        calls.add("CheckRun");
        String recorded = recordedSpecs.get(check.runId());
        if (recorded != null && !recorded.equals(check.specHash())) {
            throw ApplicationFailure.newNonRetryableFailure("run id '" + check.runId() + "' already holds a run of "
                    + "a different spec", TrainingPipelineImpl.BAD_INPUT);
        }
        return new RunCheckResult(searchAttributes);
    }

    @Override
    public void recordSpec(RunCheck check) {
        calls.add("RecordSpec");
        recordedSpecs.putIfAbsent(check.runId(), check.specHash());
    }

    @Override
    public void checkStage(StageInput input) {
        calls.add("CheckStage " + input.stage());
        String bad = stageCheck.apply(input);
        if (bad != null) {
            throw ApplicationFailure.newNonRetryableFailure("stages." + input.stage() + "." + bad,
                    TrainingPipelineImpl.BAD_INPUT);
        }
    }
}
