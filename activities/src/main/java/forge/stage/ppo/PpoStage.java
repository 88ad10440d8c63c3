package forge.stage.ppo;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.data.UriOpener;
import forge.demo.DemoWorld;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.optim.AdamW;
import forge.rewards.RewardModel;
import forge.rewards.RewardStats;
import forge.rollout.RolloutPrompts;
import forge.tokenizer.Tokenizer;
import forge.train.KeepAlive;
import forge.train.MemoryCheck;
import forge.train.ParentModel;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainState;
import forge.train.TrainingLoop;
import forge.train.TrainingMetrics;
import forge.workflow.Stages;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Reinforcement learning from the reward model (InstructGPT's step 3): the SFT policy samples answers to prompts,
 * the frozen reward model scores them, and PPO raises the score while a per-token KL penalty keeps the policy near a
 * frozen copy of where it started. The policy's output is a plain GPT-2 that any stage or {@code ./forge generate}
 * loads. The iteration itself is {@link PpoTask}; this class assembles its models and data.
 */
public final class PpoStage {
    private static final Logger log = LoggerFactory.getLogger(PpoStage.class);
    static final String VALUE_MODEL = "value_model.safetensors";
    static final String VALUE_OPTIMIZER = "value_optimizer.safetensors";
    static final String VALUE_HEAD = "value_head.safetensors";

    private final PpoConfig cfg;
    private final CheckpointStore store;
    private final UriOpener remote;
    private final TrainingMetrics metrics;
    private final StageCache cache;
    private final String policyUri;
    private final String rewardUri;

    /**
     * @param sftOutput    this run's sft output, the default policy
     * @param rewardOutput this run's reward output, the default reward model
     */
    public PpoStage(PpoConfig cfg, String sftOutput, String rewardOutput, CheckpointStore store, UriOpener remote,
                    TrainingMetrics metrics, StageCache cache) {
        this.cfg = cfg;
        this.store = store;
        this.remote = remote;
        this.metrics = metrics;
        this.cache = cfg.cache() ? cache : null;
        this.policyUri = ParentModel.uri(cfg.initFrom(), sftOutput, Stages.PPO);
        this.rewardUri = cfg.rewardFrom() != null ? cfg.rewardFrom() : rewardOutput;
        if (rewardUri == null) {
            throw BadInputException.field("reward_from", "is needed when the run has no reward stage before ppo: name "
                    + "a reward model checkpoint (a reward stage's s3://.../final/)");
        }
    }

    public StageOutcome run(StageControl control) {
        // Setup (data, tokenizer, parents, checkpoint download) can outlast a short heartbeat timeout on a cold worker.
        try (KeepAlive.Running setup = KeepAlive.start(control, KeepAlive.settingUp(control, cfg.train().maxSteps()))) {
            return run(control, setup);
        }
    }

    private StageOutcome run(StageControl control, KeepAlive.Running setup) {
        long wallStart = System.nanoTime();
        Optional<StageOutcome> done = TrainingLoop.finishedBefore(Stages.PPO, store, wallStart);
        if (done.isPresent()) {
            return done.get();
        }
        ParentModel policyParent = ParentModel.load(store, policyUri);
        ParentModel rewardParent = ParentModel.load(store, rewardUri);
        RewardModel.requireCompatible(policyParent, rewardParent, "reward_from", Stages.PPO);
        RewardStats stats = cfg.objective().normalizeReward() ? RewardStats.of(rewardParent.checkpoint())
                : new RewardStats(0, 1);
        // The critic (a copy of the reward model) trains beside the policy: counted as a second trained model.
        MemoryCheck.atStart(Stages.PPO, policyParent.config(), policyParent.config().parameterCount(),
                List.of(policyParent.config(), rewardParent.config()),
                Math.max(1, cfg.train().batchSize() / cfg.objective().miniBatches()), policyParent.config().blockSize(),
                cfg.critic() == PpoConfig.Critic.REWARD ? 2 : 1, cfg.train());
        Optional<LoadedCheckpoint> resume = TrainingLoop.latest(store, metrics);
        resume.ifPresent(policyParent::requireSameAs);

        Tokenizer tokenizer = policyParent.tokenizer();
        RolloutPrompts prompts = RolloutPrompts.read(cfg.data(), tokenizer, policyParent.config().blockSize(),
                cfg.rollout().maxNewTokens(), cfg.seed(), Map.of(), remote, Stages.PPO);
        String cacheKey = cacheKey(prompts, policyParent, rewardParent);
        Optional<StageOutcome> hit = TrainingLoop.cached(Stages.PPO, cache, cacheKey, store, resume, wallStart);
        if (hit.isPresent()) {
            return hit.get();
        }
        DemoWorld world = DemoWorld.behind(cfg.data().paths());

        try (NDManager manager = NDManager.newBaseManager();
             Gpt policy = Gpt.create(manager, policyParent.config(), cfg.seed());
             Gpt reference = Gpt.create(manager, policyParent.config(), cfg.seed());
             Gpt reward = Gpt.create(manager, rewardParent.config(), cfg.seed());
             Gpt critic = cfg.critic() == PpoConfig.Critic.REWARD
                     ? Gpt.create(manager, rewardParent.config(), cfg.seed()) : null) {
            policyParent.loadInto(policy);
            policyParent.loadInto(reference);
            reward.addScoreHead(cfg.seed());
            rewardParent.loadInto(reward);
            if (critic != null) {
                critic.addScoreHead(cfg.seed());
                rewardParent.loadInto(critic);
            }
            PpoTask.Models models = new PpoTask.Models(manager, policy, reference, reward, critic);
            try (AdamW optimizer = new AdamW(manager, models.policyParameters(), cfg.optimizer());
                 AdamW criticOptimizer = critic == null ? null
                         : new AdamW(manager, critic.trainableParameters(), cfg.optimizer())) {
                TrainState state;
                PpoTask task;
                if (resume.isPresent()) {
                    LoadedCheckpoint c = resume.get();
                    state = TrainingLoop.resume(c, cfg.resolved(), metrics, policy, optimizer);
                    task = new PpoTask(cfg, models, optimizer, criticOptimizer, tokenizer, stats, prompts.train(),
                            prompts.validation(), world, metrics, state.metrics());
                    restoreCritic(c, models, criticOptimizer);
                } else {
                    task = new PpoTask(cfg, models, optimizer, criticOptimizer, tokenizer, stats, prompts.train(),
                            prompts.validation(), world, metrics, Map.of());
                    Map<String, Double> before = new LinkedHashMap<>(KeepAlive.during(control,
                            KeepAlive.starting(cfg.train().maxSteps()), task::startMetrics));
                    before.put("promptsTrain", (double) prompts.train().size());
                    before.put("promptsValidation", (double) prompts.validation().size());
                    before.put("promptsSkippedTooLong", (double) prompts.skipped());
                    task.rememberStart(before);
                    state = TrainState.start(Stages.PPO, cfg.seed(), task.lastValidationLoss(), policyParent.uri(),
                            cfg.resolved(), before);
                    log.info("starting {} from policy {} and reward model {}: {} training prompts, held-out reward {}",
                            Stages.PPO, policyParent.uri(), rewardParent.uri(), prompts.train().size(),
                            TrainingLoop.fmt(before.get("rewardSft")));
                }
                var settings = new TrainingLoop.Settings(Stages.PPO, cfg.seed(), cfg.train().maxSteps(),
                        cfg.evalInterval(), cfg.checkpoint(), cfg.train().precision(),
                        cfg.train().exportDtype());
                var io = new TrainingLoop.Io(store, metrics, control, cache, cacheKey);
                setup.close();
                return new TrainingLoop(settings, task, policy, optimizer, tokenizer, io, state,
                        resume.map(c -> c.uri().toString()).orElse(null), wallStart).run();
            }
        }
    }

    private static void restoreCritic(LoadedCheckpoint c, PpoTask.Models models, AdamW criticOptimizer) {
        if (models.critic != null) {
            models.critic.load(forge.checkpoint.CheckpointTensors.readFile(c, VALUE_MODEL));
            criticOptimizer.loadState(forge.checkpoint.CheckpointTensors.readFile(c, VALUE_OPTIMIZER));
        } else {
            models.loadValueHead(forge.checkpoint.CheckpointTensors.readFile(c, VALUE_HEAD));
        }
    }

    /** The resolved config (minus whether to cache), the prompts, and both parents' files. */
    private String cacheKey(RolloutPrompts prompts, ParentModel policy, ParentModel reward) {
        ObjectNode keyConfig = cfg.resolved().deepCopy();
        keyConfig.remove("cache");
        List<List<String>> inputs = new ArrayList<>();
        inputs.add(policy.digest());
        inputs.add(reward.digest());
        inputs.addAll(prompts.texts());
        return StageCache.key(Stages.PPO, keyConfig, inputs);
    }
}
