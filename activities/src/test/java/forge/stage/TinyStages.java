package forge.stage;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.checkpoint.CheckpointStore;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.pretrain.PretrainStageTest;
import forge.storage.EmbeddedS3;
import forge.storage.LocalS3;
import forge.storage.S3Storage;
import forge.train.StageControl;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/**
 * What the stage tests share: an embedded S3 under a temp folder and a tiny pretrained parent (char tokenizer, two
 * layers, 32 wide) for the stages that fine-tune one.
 */
public final class TinyStages implements AutoCloseable {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    public final EmbeddedS3 s3;
    public final S3Storage storage;

    public TinyStages(Path dir) {
        s3 = LocalS3.start(dir);
        storage = new S3Storage(s3.settings("runs"), LocalS3.testOptions());
    }

    public CheckpointStore store(String run, String stage) {
        return new CheckpointStore(storage, s3.settings("runs").stageRoot(run, stage), 2);
    }

    /** A pretrain stage's final/ in run "parent": demo text, seed 5. */
    public String pretrained(int blockSize, int steps) {
        try {
            PretrainConfig cfg = PretrainConfig.parse(YAML.readTree("""
                    seed: 5
                    model: {n_layer: 2, n_head: 2, n_embd: 32, block_size: %d}
                    tokenizer: {type: char}
                    data: {sources: [{path: "demo:pretrain?seed=7&docs=800"}]}
                    train: {max_steps: %d, batch_size: 4, warmup_steps: 5}
                    eval: {interval: %d, batches: 2}
                    sample: {count: 0}
                    """.formatted(blockSize, steps, steps)));
            return new PretrainStage(cfg, store("parent", "pretrain"), storage,
                    PretrainStageTest.metrics(), null).run(StageControl.NONE).checkpoint();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void close() {
        storage.close();
        s3.close();
    }
}
