package forge.workflow;

import com.fasterxml.jackson.databind.JsonNode;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The pipeline spec: the same structure as a {@code config/*.yaml} file, received as plain JSON so that
 * {@code temporal workflow start --input @spec.json} works without Java on the caller's side.
 */
public record PipelineSpec(String name, List<StageSpec> stages, Duration workerWait, int historyLimitEvents) {
    private static final Set<String> TOP_LEVEL_KEYS = Set.of("name", "stages", "worker_wait_seconds",
            "history_limit_events");
    static final Duration DEFAULT_HEARTBEAT_TIMEOUT = Duration.ofMinutes(5);
    /**
     * How long the checks before the first stage wait for a worker on each stage's task queue. Generous, so that a
     * GPU pool that scales up from zero when work arrives is found; a misspelled queue fails after this long.
     */
    static final Duration DEFAULT_WORKER_WAIT = Duration.ofMinutes(5);
    /**
     * Above this many events a workflow run continues as new (DESIGN: docs/durability.md). Well under the 10,240
     * events at which Temporal starts warning, with room for the events a rotation itself takes.
     */
    public static final int DEFAULT_HISTORY_LIMIT = 4_000;
    static final int MIN_HISTORY_LIMIT = 100;
    static final int MAX_HISTORY_LIMIT = 8_000;

    public PipelineSpec {
        stages = List.copyOf(stages);
        if (stages.isEmpty()) {
            throw new IllegalArgumentException("stages: the spec names no stage");
        }
        if (historyLimitEvents < MIN_HISTORY_LIMIT || historyLimitEvents > MAX_HISTORY_LIMIT) {
            throw new IllegalArgumentException("history_limit_events: must be between " + MIN_HISTORY_LIMIT
                    + " and " + MAX_HISTORY_LIMIT + ", got " + historyLimitEvents);
        }
    }

    public PipelineSpec(String name, List<StageSpec> stages) {
        this(name, stages, DEFAULT_WORKER_WAIT, DEFAULT_HISTORY_LIMIT);
    }

    public StageSpec stage(String stageName) {
        return stages.stream().filter(s -> s.name().equals(stageName)).findFirst().orElse(null);
    }

    /** Parses and checks the parts the workflow needs; throws IllegalArgumentException naming the field. */
    public static PipelineSpec parse(JsonNode root) {
        if (root == null || !root.isObject()) {
            throw new IllegalArgumentException("spec: expected a JSON object with a \"stages\" field");
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String key = it.next();
            if (!TOP_LEVEL_KEYS.contains(key)) {
                throw new IllegalArgumentException(key + ": unknown key; expected one of " + TOP_LEVEL_KEYS);
            }
        }
        JsonNode stagesNode = root.get("stages");
        if (stagesNode == null || !stagesNode.isObject()) {
            throw new IllegalArgumentException("stages: missing; expected an object such as {\"pretrain\": {...}}");
        }
        List<StageSpec> stages = new ArrayList<>();
        int lastIndex = -1;
        for (Iterator<Map.Entry<String, JsonNode>> it = stagesNode.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String stageName = e.getKey();
            int index = Stages.ORDER.indexOf(stageName);
            if (index < 0) {
                throw new IllegalArgumentException("stages." + stageName + ": unknown stage; known stages are " + Stages.ORDER);
            }
            if (!Stages.AVAILABLE.contains(stageName)) {
                throw new IllegalArgumentException("stages." + stageName + ": this version of LLM Forge runs only " + Stages.AVAILABLE);
            }
            if (index < lastIndex) {
                throw new IllegalArgumentException("stages." + stageName + ": stages must appear in the order " + Stages.ORDER);
            }
            lastIndex = index;
            JsonNode config = e.getValue();
            if (!config.isObject()) {
                throw new IllegalArgumentException("stages." + stageName + ": expected an object");
            }
            String field = "stages." + stageName;
            JsonNode queueNode = config.get("task_queue");
            if (queueNode != null && !queueNode.isNull() && !queueNode.isTextual()) {
                throw new IllegalArgumentException(field + ".task_queue: must be a string, got " + queueNode);
            }
            String queue = queueNode != null && !queueNode.isNull() ? queueNode.asText() : TaskQueues.GPU;
            Duration heartbeat = Duration.ofSeconds(SpecNumbers.positiveInteger(config, "heartbeat_timeout_seconds",
                    DEFAULT_HEARTBEAT_TIMEOUT.toSeconds(), field));
            Duration startToClose = Duration.ofMillis(Math.round(3_600_000 * SpecNumbers.positive(config,
                    "start_to_close_hours", StageSpec.DEFAULT_START_TO_CLOSE.toHours(), field)));
            StageRetry retry = StageRetry.parse(config.get("retry"), field + ".retry");
            stages.add(new StageSpec(stageName, config, queue, heartbeat, startToClose, retry));
        }
        StageSpec first = stages.isEmpty() ? null : stages.get(0);
        if (first != null && !first.name().equals(Stages.PRETRAIN) && !first.config().hasNonNull("init_from")) {
            throw new IllegalArgumentException("stages." + first.name() + ".init_from: the spec starts at "
                    + first.name() + ", so it must name the checkpoint to start from (e.g. a pretrain stage's "
                    + "s3://.../final/)");
        }
        requirePpoInputs(stages);
        requirePolicy(stages, Stages.GRPO);
        requirePolicy(stages, Stages.DPO);
        requireGrpoRewardModel(stages);
        String name = root.hasNonNull("name") ? root.get("name").asText() : "pipeline";
        Duration workerWait = Duration.ofSeconds(SpecNumbers.positiveInteger(root, "worker_wait_seconds",
                DEFAULT_WORKER_WAIT.toSeconds(), ""));
        long limit = SpecNumbers.positiveInteger(root, "history_limit_events", DEFAULT_HISTORY_LIMIT, "");
        return new PipelineSpec(name, stages, workerWait, (int) Math.min(limit, Integer.MAX_VALUE));
    }

    /** GRPO and DPO start from the SFT policy: this spec's sft stage, or the checkpoint init_from names. */
    private static void requirePolicy(List<StageSpec> stages, String stage) {
        List<String> names = stages.stream().map(StageSpec::name).toList();
        int at = names.indexOf(stage);
        if (at >= 0 && !names.subList(0, at).contains(Stages.SFT) && !stages.get(at).config().hasNonNull("init_from")) {
            throw new IllegalArgumentException("stages." + stage + ".init_from: the spec has no sft stage before "
                    + stage + ", so it must name the policy to start from (an sft stage's s3://.../final/)");
        }
    }

    /** A GRPO reward source of type reward_model reads this spec's reward stage, or the model reward_from names. */
    private static void requireGrpoRewardModel(List<StageSpec> stages) {
        List<String> names = stages.stream().map(StageSpec::name).toList();
        int at = names.indexOf(Stages.GRPO);
        if (at < 0 || names.subList(0, at).contains(Stages.REWARD) || stages.get(at).config().hasNonNull("reward_from")) {
            return;
        }
        JsonNode rewards = stages.get(at).config().get("rewards");
        if (rewards != null && rewards.isArray()) {
            for (int i = 0; i < rewards.size(); i++) {
                if ("reward_model".equals(rewards.get(i).path("type").asText())) {
                    throw new IllegalArgumentException("stages.grpo.reward_from: rewards[" + i + "] is a reward_model "
                            + "and the spec has no reward stage before grpo, so it must name the reward model (a "
                            + "reward stage's s3://.../final/)");
                }
            }
        }
    }

    /** PPO reads two earlier outputs, the SFT policy and the reward model: each from this spec or named. */
    private static void requirePpoInputs(List<StageSpec> stages) {
        List<String> names = stages.stream().map(StageSpec::name).toList();
        int ppo = names.indexOf(Stages.PPO);
        if (ppo < 0) {
            return;
        }
        JsonNode cfg = stages.get(ppo).config();
        if (!names.subList(0, ppo).contains(Stages.SFT) && !cfg.hasNonNull("init_from")) {
            throw new IllegalArgumentException("stages.ppo.init_from: the spec has no sft stage before ppo, so it "
                    + "must name the policy to start from (an sft stage's s3://.../final/)");
        }
        if (!names.subList(0, ppo).contains(Stages.REWARD) && !cfg.hasNonNull("reward_from")) {
            throw new IllegalArgumentException("stages.ppo.reward_from: the spec has no reward stage before ppo, so "
                    + "it must name the reward model (a reward stage's s3://.../final/)");
        }
    }
}
