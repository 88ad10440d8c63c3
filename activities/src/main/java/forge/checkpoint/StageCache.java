package forge.checkpoint;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.storage.S3Storage;
import forge.storage.S3Uri;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reuse of finished stages across runs, like Flyte's and Kubeflow's caches: a stage whose resolved config and input
 * data hash to a key seen before returns that run's {@code final/} checkpoint instead of training again. Entries
 * live at {@code <root>/<stage>/<key>.json}; an entry whose checkpoint has vanished or no longer verifies is a miss.
 */
public final class StageCache {
    private static final Logger log = LoggerFactory.getLogger(StageCache.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    private final S3Storage s3;
    private final S3Uri root;

    public StageCache(S3Storage s3, S3Uri root) {
        this.s3 = s3;
        this.root = root;
    }

    /** SHA-256 over the stage name, its resolved config and each input's content (documents, in order). */
    public static String key(String stage, JsonNode resolvedConfig, List<List<String>> inputs) {
        MessageDigest sha = sha256();
        sha.update(stage.getBytes(StandardCharsets.UTF_8));
        sha.update((byte) 0);
        sha.update(resolvedConfig.toString().getBytes(StandardCharsets.UTF_8));
        for (List<String> input : inputs) {
            MessageDigest inputSha = sha256();
            for (String doc : input) {
                inputSha.update(doc.getBytes(StandardCharsets.UTF_8));
                inputSha.update((byte) 0);
            }
            sha.update((byte) 0);
            sha.update(inputSha.digest());
        }
        return HexFormat.of().formatHex(sha.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every JVM must provide SHA-256", e);
        }
    }

    /** The cached stage output, verified; empty on a miss or when the artifact is gone (then: recompute). */
    public Optional<LoadedCheckpoint> lookup(String stage, String key, CheckpointStore verifier) {
        Optional<byte[]> entry = s3.getIfExists(entryUri(stage, key));
        if (entry.isEmpty()) {
            return Optional.empty();
        }
        S3Uri checkpoint;
        try {
            checkpoint = S3Uri.parse(JSON.readTree(entry.get()).get("checkpoint").asText());
        } catch (IOException | RuntimeException e) {
            log.warn("ignoring unreadable cache entry {}: {}", entryUri(stage, key), e.getMessage());
            return Optional.empty();
        }
        Optional<LoadedCheckpoint> loaded = verifier.load(checkpoint);
        if (loaded.isEmpty()) {
            log.warn("cached {} output {} is gone or corrupt; training it again", stage, checkpoint);
        }
        return loaded;
    }

    public void record(String stage, String key, S3Uri checkpoint) {
        try {
            s3.put(entryUri(stage, key), JSON.writeValueAsBytes(Map.of("checkpoint", checkpoint.toString())));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private S3Uri entryUri(String stage, String key) {
        return root.resolve(stage + "/" + key + ".json");
    }
}
