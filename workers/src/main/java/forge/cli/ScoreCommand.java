package forge.cli;

import forge.train.ParentModel;
import forge.rewards.RewardScorer;
import forge.storage.S3Storage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

/** Scores responses to a prompt with a trained reward model, to inspect what it learned. */
@Command(name = "score", description = "Score responses to a prompt with a reward model checkpoint "
        + "(S3 settings from FORGE_S3_*; `source .forge/dev.env` for the dev stack's).")
final class ScoreCommand implements Callable<Integer> {
    @Mixin
    ConnectionOptions connection;

    @Parameters(index = "0", description = "the reward stage's checkpoint, e.g. s3://forge/runs/<run>/reward/final/")
    String checkpoint;

    @Option(names = "--prompt", required = true, description = "the user's prompt")
    String prompt;

    @Option(names = "--response", required = true, description = "a response to score; repeat to compare several")
    List<String> responses;

    @Override
    public Integer call() {
        var s3 = connection.settings().s3();
        try (S3Storage storage = new S3Storage(s3);
             RewardScorer scorer = RewardScorer.load(ParentModel.reader(storage, checkpoint),
                     ParentModel.resolve(checkpoint, storage))) {
            System.out.printf(Locale.ROOT, "reward model %s (held-out rewards: mean %.3f, std %.3f)%n", checkpoint,
                    scorer.mean(), scorer.std());
            System.out.println("Q: " + prompt);
            for (String r : responses) {
                double raw = scorer.score(prompt, r);
                System.out.printf(Locale.ROOT, "  %+7.3f  (normalised %+6.2f)  %s%n", raw,
                        (raw - scorer.mean()) / Math.max(scorer.std(), 1e-8), r);
            }
        }
        return 0;
    }
}
