package forge.activities;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import forge.report.PipelineReport;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.train.TrainState;
import forge.workflow.PipelineActivities;
import forge.workflow.PipelineResult;
import forge.workflow.StageResult;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

public class PipelineActivitiesImpl implements PipelineActivities {
    private static final Logger log = LoggerFactory.getLogger(PipelineActivitiesImpl.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final S3Storage storage;
    private final S3Settings settings;

    public PipelineActivitiesImpl(S3Storage storage, S3Settings settings) {
        this.storage = storage;
        this.settings = settings;
    }

    @Override
    public String publishSummary(PipelineResult result) {
        S3Uri runRoot = settings.runRoot(result.runId());
        S3Uri uri = runRoot.resolve("summary.json");
        try {
            storage.put(uri, JSON.writeValueAsBytes(result));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        publishReport(result, runRoot.resolve("report.html"));
        return uri.toString();
    }

    /**
     * {@code report.html} next to {@code summary.json}. Loss curves come from each stage's {@code state.json} beside
     * its checkpoint; a stage whose state cannot be read is shown from the summary alone. The summary is the
     * contract, so a report that cannot be written is logged, never a failure.
     */
    private void publishReport(PipelineResult result, S3Uri reportUri) {
        try {
            Map<String, TrainState> states = new LinkedHashMap<>();
            Map<String, String> links = new LinkedHashMap<>();
            Map<String, StageResult> stages = result.stages() == null ? Map.of() : result.stages();
            for (Map.Entry<String, StageResult> e : stages.entrySet()) {
                String checkpoint = e.getValue() == null ? null : e.getValue().checkpoint();
                if (checkpoint == null || checkpoint.isEmpty()) {
                    continue;
                }
                try {
                    S3Uri dir = S3Uri.parse(checkpoint);
                    Optional<byte[]> state = storage.getIfExists(dir.resolve("state.json"));
                    state.ifPresent(bytes -> states.put(e.getKey(), TrainState.fromJson(bytes, checkpoint)));
                    S3Uri stageReport = dir.resolve("report.html");
                    if (storage.exists(stageReport)) {
                        String link = PipelineReport.relativeLink(reportUri.toString(), stageReport.toString());
                        if (link != null) {
                            links.put(e.getKey(), link);
                        }
                    }
                } catch (RuntimeException ex) {
                    log.warn("run report of {}: leaving out the details of {} ({})", result.runId(), e.getKey(),
                            ex.toString());
                }
            }
            storage.put(reportUri, PipelineReport.file(result, states, links));
        } catch (RuntimeException e) {
            log.warn("could not write {}: {}", reportUri, e.toString());
        }
    }
}
