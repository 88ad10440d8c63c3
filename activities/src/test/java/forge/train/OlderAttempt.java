package forge.train;

import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.pretrain.PretrainStageTest;
import forge.checkpoint.AttemptReplacedException;
import forge.checkpoint.CheckpointStore;
import forge.storage.LocalS3;
import forge.storage.S3Settings;
import forge.storage.S3Storage;

import java.net.URI;

/**
 * One attempt of the pretraining stage in a process of its own, the way a worker that Temporal gave up on keeps
 * running: {@code OlderAttempt <s3 endpoint> <bucket> <prefix> <run> <max steps>}. Exits 0 when it completed, 3 when
 * it learned that a newer attempt replaced it, 1 on anything else. Credentials come from the system properties the
 * parent passes on ({@code aws.accessKeyId}, {@code aws.secretAccessKey}).
 */
public final class OlderAttempt {
    static final int REPLACED = 3;

    private OlderAttempt() {
    }

    public static void main(String[] args) throws Exception {
        S3Settings settings = S3Settings.local(URI.create(args[0]), args[1], args[2]);
        try (S3Storage storage = new S3Storage(settings, LocalS3.testOptions())) {
            PretrainConfig cfg = PretrainConfig.parse(ConcurrentAttemptsTest.spec(Integer.parseInt(args[4])));
            CheckpointStore store = new CheckpointStore(storage, settings.stageRoot(args[3], "pretrain"), 50);
            new PretrainStage(cfg, store, storage, PretrainStageTest.metrics(), null).run(StageControl.NONE);
            System.out.println("older attempt completed");
            System.exit(0);
        } catch (AttemptReplacedException e) {
            System.out.println("older attempt replaced: " + e.getMessage());
            System.exit(REPLACED);
        } catch (Throwable t) {
            t.printStackTrace(System.out);
            System.exit(1);
        }
    }
}
