package forge.train;

import com.fasterxml.jackson.databind.JsonNode;
import forge.errors.BadInputException;
import forge.workflow.Stages;

/**
 * Checks a stage's config the way its worker will, so the CLI can refuse a bad spec before it starts a run.
 * The worker checks again: a spec may also arrive through the {@code temporal} CLI.
 */
public final class StageConfigs {
    private StageConfigs() {}

    public static void validate(String stage, JsonNode config) {
        try {
            switch (stage) {
                case Stages.PRETRAIN -> PretrainConfig.parse(config);
                case Stages.SFT -> SftConfig.parse(config);
                case Stages.REWARD -> RewardConfig.parse(config);
                case Stages.PPO -> PpoConfig.parse(config);
                default -> throw new BadInputException("stages." + stage + ": not available in this version");
            }
        } catch (BadInputException e) {
            throw new BadInputException("stages." + stage + "." + e.getMessage(), e);
        }
    }
}
