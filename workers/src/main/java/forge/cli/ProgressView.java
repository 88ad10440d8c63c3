package forge.cli;

import forge.workflow.PipelineState;
import forge.workflow.PipelineStatus;
import forge.workflow.StageProgress;
import forge.workflow.StageStatus;
import io.temporal.client.WorkflowClient;

import java.io.PrintStream;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * Live progress of a pipeline through Temporal alone: the {@code status} query for stage states, and the running
 * stage's heartbeat details (step, loss, tokens/s) from DescribeWorkflowExecution, which are fresher.
 */
final class ProgressView {
    private static final int BAR = 30;

    private final WorkflowClient client;
    private final String runId;
    private final PrintStream out;
    private final boolean tty;
    private String lastLine = "";
    private long lastPrintedAt;

    ProgressView(WorkflowClient client, String runId, PrintStream out) {
        this.client = client;
        this.runId = runId;
        this.out = out;
        this.tty = System.console() != null;
    }

    /** Prints progress until the workflow closes. */
    void followUntilClosed() throws InterruptedException {
        while (true) {
            Optional<String> line = render();
            if (line.isPresent() && !line.get().equals(lastLine)) {
                print(line.get());
                lastLine = line.get();
            }
            if (isClosed()) {
                if (tty) {
                    out.println();
                }
                return;
            }
            Thread.sleep(1000);
        }
    }

    private boolean isClosed() {
        return RunInspection.describe(client, runId).getWorkflowExecutionInfo().hasCloseTime();
    }

    private Optional<String> render() {
        PipelineStatus status;
        try {
            status = client.newWorkflowStub(forge.workflow.TrainingPipeline.class, runId).status();
        } catch (RuntimeException e) {
            return Optional.empty();
        }
        if (status.currentStage() == null) {
            return Optional.empty();
        }
        StageStatus stage = status.stages().get(status.currentStage());
        StageProgress hb = RunInspection.latestHeartbeat(client, runId).orElse(null);
        long step = hb != null ? hb.step() : stage.step();
        long total = hb != null ? hb.totalSteps() : stage.totalSteps();
        if (total == 0 && stage.nextAttemptAt() == null) {
            return Optional.empty(); // the stage is still loading data and building its model
        }
        Double loss = hb != null ? hb.loss() : stage.metrics().get("loss");
        Map<String, Double> metrics = hb != null ? hb.metrics() : stage.metrics();
        return Optional.of(line(status.currentStage(), status.state(), step, total, loss, metrics) + attempts(stage));
    }

    /** Only once a stage has failed: which attempt this is, and while it waits, when the next one starts and why. */
    static String attempts(StageStatus stage) {
        if (stage.attempt() <= 1 && stage.lastFailure() == null) {
            return "";
        }
        StringBuilder sb = new StringBuilder(" attempt ").append(Math.max(stage.attempt(), 1));
        if (stage.nextAttemptAt() != null) {
            sb.append(", next at ").append(stage.nextAttemptAt());
        }
        if (stage.lastFailure() != null) {
            String f = stage.lastFailure();
            sb.append(" (last failure: ").append(f.length() > 120 ? f.substring(0, 117) + "..." : f).append(')');
        }
        return sb.toString();
    }

    static String line(String stage, PipelineState state, long step, long total, Double loss, Map<String, Double> m) {
        double frac = total > 0 ? Math.min(1.0, (double) step / total) : 0;
        int filled = (int) Math.round(frac * BAR);
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "%-9s [%s%s] %3d%% step %d/%d", stage, "#".repeat(filled),
                ".".repeat(BAR - filled), Math.round(frac * 100), step, total));
        if (loss != null) {
            sb.append(String.format(Locale.ROOT, " loss %.4f", loss));
        }
        Double val = m.get("valLoss");
        if (val != null) {
            sb.append(String.format(Locale.ROOT, " val %.4f", val));
        }
        Double tps = m.get("tokensPerSecond");
        if (tps != null && tps > 0) {
            sb.append(String.format(Locale.ROOT, " %,.0f tok/s", tps));
        }
        if (state == PipelineState.PAUSED) {
            sb.append(" (paused)");
        }
        return sb.toString();
    }

    private void print(String line) {
        if (tty) {
            out.print("\r" + line + "   ");
            out.flush();
        } else if (System.currentTimeMillis() - lastPrintedAt > 5000) {
            out.println(line);
            lastPrintedAt = System.currentTimeMillis();
        }
    }
}
