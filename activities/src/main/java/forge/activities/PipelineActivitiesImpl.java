package forge.activities;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import forge.storage.S3Settings;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import forge.workflow.PipelineActivities;
import forge.workflow.PipelineResult;

import java.io.IOException;
import java.io.UncheckedIOException;

public class PipelineActivitiesImpl implements PipelineActivities {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private final S3Storage storage;
    private final S3Settings settings;

    public PipelineActivitiesImpl(S3Storage storage, S3Settings settings) {
        this.storage = storage;
        this.settings = settings;
    }

    @Override
    public String publishSummary(PipelineResult result) {
        S3Uri uri = settings.root().resolve(result.runId()).resolve("summary.json");
        try {
            storage.put(uri, JSON.writeValueAsBytes(result));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return uri.toString();
    }
}
