package forge.activities;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import forge.report.PipelineReport;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.train.TrainState;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.errors.BadInputException;
import forge.stage.StageRegistry;
import forge.workflow.PipelineActivities;
import forge.workflow.PipelineResult;
import forge.workflow.PipelineSpec;
import forge.workflow.RunCheck;
import forge.workflow.RunCheckResult;
import forge.workflow.SpecHash;
import forge.workflow.StageResult;
import forge.workflow.StageSpec;
import io.temporal.client.WorkflowClient;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

public class PipelineActivitiesImpl implements PipelineActivities {
    private static final Logger log = LoggerFactory.getLogger(PipelineActivitiesImpl.class);
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    static final String SPEC_RECORD = "spec.json";

    private final S3Storage storage;
    private final S3Settings settings;
    private final SearchAttributeCheck searchAttributes;

    public PipelineActivitiesImpl(S3Storage storage, S3Settings settings) {
        this(storage, settings, null);
    }

    /** @param client the control worker's client, for the namespace's search attributes; null reports none */
    public PipelineActivitiesImpl(S3Storage storage, S3Settings settings, WorkflowClient client) {
        this.storage = storage;
        this.settings = settings;
        this.searchAttributes = client == null ? null : new SearchAttributeCheck(client);
    }

    /**
     * Every stage's config through the stage's own parser (so a typo in the PPO section fails before pretraining
     * starts), and the run id against the spec it already holds.
     */
    @Override
    public RunCheckResult checkRun(RunCheck check) {
        try {
            for (StageSpec stage : PipelineSpec.parse(check.spec()).stages()) {
                StageRegistry.validate(stage.name(), stage.config());
            }
            refuseAnotherSpec(check);
            return new RunCheckResult(searchAttributes == null ? List.of() : searchAttributes.registered());
        } catch (IllegalArgumentException e) {
            throw ActivityFailures.toTemporal(new BadInputException(e.getMessage(), e), "");
        } catch (RuntimeException e) {
            throw ActivityFailures.toTemporal(e, "");
        }
    }

    /**
     * {@code spec.json} under the run's root: the canonical spec and its SHA-256, written once, when the run's first
     * start passed every check. A later start of the same run id is compared with it.
     */
    @Override
    public void recordSpec(RunCheck check) {
        try {
            S3Uri uri = specRecord(check.runId());
            if (refuseAnotherSpec(check)) {
                return;
            }
            ObjectNode record = JSON.createObjectNode();
            record.put("sha256", check.specHash());
            record.set("spec", JSON.readTree(SpecHash.canonicalJson(check.spec())));
            storage.put(uri, JSON.writeValueAsBytes(record));
            log.info("run {}: spec {} recorded at {}", check.runId(), SpecHash.abbrev(check.specHash()), uri);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (RuntimeException e) {
            throw ActivityFailures.toTemporal(e, "");
        }
    }

    /** @return true if the run id already holds this very spec; throws if it holds another */
    private boolean refuseAnotherSpec(RunCheck check) {
        S3Uri uri = specRecord(check.runId());
        Optional<byte[]> existing = storage.getIfExists(uri);
        if (existing.isEmpty()) {
            return false;
        }
        String recorded;
        try {
            recorded = JSON.readTree(existing.get()).path("sha256").asText("");
        } catch (IOException e) {
            recorded = "";
        }
        if (!recorded.equals(check.specHash())) {
            throw new BadInputException("run id '" + check.runId() + "' already holds a run of a different spec ("
                    + uri + ", sha256 " + SpecHash.abbrev(recorded) + "; this spec is "
                    + SpecHash.abbrev(check.specHash()) + "): start this spec under another run id, or start the "
                    + "recorded spec to continue that run");
        }
        return true;
    }

    private S3Uri specRecord(String runId) {
        return settings.runRoot(runId).resolve(SPEC_RECORD);
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
