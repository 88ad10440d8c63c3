package forge.rewards;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import forge.checkpoint.LoadedCheckpoint;
import forge.errors.BadInputException;
import forge.stage.reward.RewardStage;

import java.io.IOException;

/**
 * A reward model's held-out reward mean and standard deviation ({@code reward_stats.json}, written by the reward
 * stage): what PPO normalises scores with. A checkpoint without the file gives mean 0, std 1 (no normalisation).
 */
public record RewardStats(double mean, double std) {
    private static final ObjectMapper JSON = new ObjectMapper();

    public static RewardStats of(LoadedCheckpoint c) {
        if (c.optionalFile(RewardStage.STATS_FILE).isEmpty()) {
            return new RewardStats(0, 1);
        }
        try {
            JsonNode stats = JSON.readTree(c.file(RewardStage.STATS_FILE));
            double mean = stats.path("mean").asDouble(0);
            double std = stats.path("std").asDouble(1);
            if (!Double.isFinite(mean) || !(std > 0) || Double.isInfinite(std)) {
                throw new BadInputException(c.uri() + ": " + RewardStage.STATS_FILE + " has mean " + mean + " and std "
                        + std + "; the std must be a positive number");
            }
            return new RewardStats(mean, std);
        } catch (IOException e) {
            throw new BadInputException(c.uri() + ": unreadable " + RewardStage.STATS_FILE + ": " + e.getMessage(), e);
        }
    }

    public double normalise(double raw) {
        return (raw - mean) / std;
    }
}
