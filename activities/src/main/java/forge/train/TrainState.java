package forge.train;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import forge.errors.BadInputException;

import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

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
 * @param metrics      held-out figures a stage measures once: before training ("...Before", kept across resumes so
 *                     the comparison is with the untrained start) and, in {@code final/}, after it ("...After")
 */
public record TrainState(int formatVersion, String stage, long step, long tokensSeen, long seed, double trainSeconds,
                         int resumes, Double valLossStart, Double valLoss, List<double[]> lossHistory,
                         List<double[]> valHistory, String parentCheckpoint, JsonNode config,
                         Map<String, Double> metrics) {
    public static final int FORMAT_VERSION = 1;
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    public TrainState {
        metrics = metrics == null ? new LinkedHashMap<>() : new LinkedHashMap<>(metrics); // absent in older files
    }

    /** The state before the first step of a stage. */
    public static TrainState start(String stage, long seed, double valLoss, String parentCheckpoint, JsonNode config,
                                   Map<String, Double> metrics) {
        List<double[]> vh = new ArrayList<>();
        vh.add(new double[] {0, valLoss});
        return new TrainState(FORMAT_VERSION, stage, 0, 0, seed, 0, 0, valLoss, valLoss, new ArrayList<>(), vh,
                parentCheckpoint, config, metrics);
    }

    /** This state read back from a checkpoint, counting one more resume. */
    public TrainState resumed() {
        return new TrainState(formatVersion, stage, step, tokensSeen, seed, trainSeconds, resumes + 1, valLossStart,
                valLoss, new ArrayList<>(lossHistory), new ArrayList<>(valHistory), parentCheckpoint, config, metrics);
    }

    /** The state after one more step; the histories are appended to in place by the loop. */
    public TrainState advanced(long done, long tokens, double trainSeconds, Double valLoss) {
        return new TrainState(formatVersion, stage, done, tokensSeen + tokens, seed, trainSeconds, resumes,
                valLossStart, valLoss, lossHistory, valHistory, parentCheckpoint, config, metrics);
    }

    public TrainState withMetrics(Map<String, Double> more) {
        Map<String, Double> all = new LinkedHashMap<>(metrics);
        all.putAll(more);
        return new TrainState(formatVersion, stage, step, tokensSeen, seed, trainSeconds, resumes, valLossStart,
                valLoss, lossHistory, valHistory, parentCheckpoint, config, all);
    }

    /**
     * The loop appends to the histories in place, so a state handed to the background checkpoint writer must be
     * detached from them first.
     */
    public TrainState detached() {
        return new TrainState(formatVersion, stage, step, tokensSeen, seed, trainSeconds, resumes, valLossStart,
                valLoss, new ArrayList<>(lossHistory), new ArrayList<>(valHistory), parentCheckpoint, config, metrics);
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
