package forge.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import forge.errors.BadInputException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;

/**
 * {@code state.json} of a checkpoint: everything besides tensors that a resumed run needs to continue exactly,
 * plus the resolved config that produced it. The data cursor is the step itself: batches are a pure function
 * of (seed, step), and dropout is seeded per step, so no RNG state needs saving.
 *
 * @param step         optimizer steps completed; the resumed run starts at this step
 * @param trainSeconds training wall time summed over all attempts, for honest throughput figures
 * @param resumes      how many times this stage resumed from a checkpoint
 * @param lossHistory  [step, train loss] pairs, sparse, for curves in reports
 * @param valHistory   [step, validation loss] pairs
 */
public record TrainState(int formatVersion, String stage, long step, long tokensSeen, long seed, double trainSeconds,
                         int resumes, Double valLossStart, Double valLoss, List<double[]> lossHistory,
                         List<double[]> valHistory, String parentCheckpoint, JsonNode config) {
    public static final int FORMAT_VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /**
     * The loop appends to the histories in place, so a state handed to the background checkpoint writer must be
     * detached from them first.
     */
    public TrainState detached() {
        return new TrainState(formatVersion, stage, step, tokensSeen, seed, trainSeconds, resumes, valLossStart,
                valLoss, new ArrayList<>(lossHistory), new ArrayList<>(valHistory), parentCheckpoint, config);
    }

    public byte[] toJson() {
        try {
            return JSON.writeValueAsBytes(this);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    public static TrainState fromJson(byte[] bytes, String where) {
        try {
            TrainState s = JSON.readValue(bytes, TrainState.class);
            if (s.formatVersion() != FORMAT_VERSION) {
                throw new BadInputException(where + ": state.json format_version " + s.formatVersion()
                        + " is not supported (this build reads " + FORMAT_VERSION + ")");
            }
            return s;
        } catch (IOException e) {
            throw new BadInputException(where + ": unreadable state.json: " + e.getMessage(), e);
        }
    }
}
