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
        md.append("\n\n| stage | state | step | loss | checkpoint |\n|---|---|---|---|---|\n");
        for (Map.Entry<String, StageStatus> e : s.stages().entrySet()) {
            StageStatus st = e.getValue();
            Double loss = st.metrics().getOrDefault("loss", st.metrics().get("valLoss"));
            md.append("| ").append(e.getKey())
                    .append(" | ").append(st.state())
                    .append(" | ").append(st.step()).append('/').append(st.totalSteps())
                    .append(" | ").append(loss == null ? "" : String.format(Locale.ROOT, "%.4f", loss))
                    .append(" | ").append(st.checkpoint() == null ? "" : "`" + st.checkpoint() + "`")
                    .append(" |\n");
        }
        if (s.error() != null) {
            md.append("\nerror: ").append(s.error()).append('\n');
        }
        return md.toString();
    }
}
