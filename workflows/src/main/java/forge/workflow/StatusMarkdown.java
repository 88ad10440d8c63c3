package forge.workflow;

import java.util.Locale;
import java.util.Map;

/** The stage table the Temporal UI shows as the workflow's current details. */
final class StatusMarkdown {
    private StatusMarkdown() {}

    static String render(PipelineStatus s) {
        StringBuilder md = new StringBuilder();
        md.append("**").append(s.state()).append("**");
        if (s.currentStage() != null) {
            md.append(" — stage `").append(s.currentStage()).append('`');
        }
        if (s.workflowRuns() > 1) {
            md.append(" — workflow run ").append(s.workflowRuns());
        }
        md.append("\n\n| stage | state | step | loss | attempt | checkpoint |\n|---|---|---|---|---|---|\n");
        for (Map.Entry<String, StageStatus> e : s.stages().entrySet()) {
            StageStatus st = e.getValue();
            Double loss = st.metrics().getOrDefault("loss", st.metrics().get("valLoss"));
            md.append("| ").append(e.getKey())
                    .append(" | ").append(st.state())
                    .append(" | ").append(st.step()).append('/').append(st.totalSteps())
                    .append(" | ").append(loss == null ? "" : String.format(Locale.ROOT, "%.4f", loss))
                    .append(" | ").append(st.attempt() == 0 ? "" : String.valueOf(st.attempt()))
                    .append(" | ").append(st.checkpoint() == null ? "" : "`" + st.checkpoint() + "`")
                    .append(" |\n");
        }
        for (Map.Entry<String, StageStatus> e : s.stages().entrySet()) {
            StageStatus st = e.getValue();
            if (st.lastFailure() != null && st.state() != PipelineState.COMPLETED) {
                md.append("\n`").append(e.getKey()).append("` last failure: ").append(st.lastFailure());
                if (st.nextAttemptAt() != null) {
                    md.append(" — attempt ").append(st.attempt() + 1).append(" at ").append(st.nextAttemptAt());
                }
                md.append('\n');
            }
        }
        if (s.error() != null) {
            md.append("\nerror: ").append(s.error()).append('\n');
        }
        return md.toString();
    }
}
