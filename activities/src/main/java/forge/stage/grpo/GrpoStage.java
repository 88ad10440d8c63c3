package forge.stage.grpo;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.data.UriOpener;
import forge.demo.DemoWorld;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.optim.AdamW;
import forge.rewards.RewardModel;
import forge.rewards.RewardSpec;
import forge.rewards.RewardStats;
import forge.rewards.Rewards;
import forge.rollout.EncodedPrompt;
import forge.rollout.RolloutPrompts;
import forge.tokenizer.SpecialToken;
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
 * Group-relative policy optimisation (DeepSeekMath) against verifiable rewards: the SFT policy answers each prompt
 * several times, checkers that know the right answer (or a reward model) score the answers, and each answer is pushed
 * up or down by how it did against the others for the same prompt — no critic, no value model. The output is a
 * plain GPT-2 that any stage or {@code ./forge generate} loads. The step itself is {@link GrpoTask}; this class
 * assembles its models, rewards and prompts.
 */
public final class GrpoStage {
    private static final Logger log = LoggerFactory.getLogger(GrpoStage.class);

    private final GrpoConfig cfg;
    private final CheckpointStore store;
    private final UriOpener remote;
    private final TrainingMetrics metrics;
    private final StageCache cache;
    private final String policyUri;
    private final String rewardUri;

    /**
     * @param sftOutput    this run's sft output, the default policy
     * @param rewardOutput this run's reward output, the default reward model of a {@code reward_model} source
     */
    public GrpoStage(GrpoConfig cfg, String sftOutput, String rewardOutput, CheckpointStore store, UriOpener remote,
                     TrainingMetrics metrics, StageCache cache) {
        this.cfg = cfg;
        this.store = store;
        this.remote = remote;
        this.metrics = metrics;
        this.cache = cfg.cache() ? cache : null;
        this.policyUri = ParentModel.uri(cfg.initFrom(), sftOutput, Stages.GRPO);
        boolean needsModel = RewardSpec.needRewardModel(cfg.rewards());
        this.rewardUri = !needsModel ? null : cfg.rewardFrom() != null ? cfg.rewardFrom() : rewardOutput;
        if (needsModel && rewardUri == null) {
            throw BadInputException.field("reward_from", "is needed when a reward source is a reward_model and the "
                    + "run has no reward stage before grpo: name a reward model checkpoint (a reward stage's "
                    + "s3://.../final/)");
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
        Optional<StageOutcome> done = TrainingLoop.finishedBefore(Stages.GRPO, store, wallStart);
        if (done.isPresent()) {
            return done.get();
        }
        ParentModel policyParent = ParentModel.load(store, policyUri);
        if (policyParent.weights().containsKey("score.weight")) {
            throw BadInputException.field("init_from", policyParent.uri() + " is a reward model, not a policy (it has "
                    + "a score head); start GRPO from an SFT checkpoint");
        }
        ParentModel rewardParent = rewardUri == null ? null : ParentModel.load(store, rewardUri);
        if (rewardParent != null) {
            RewardModel.requireCompatible(policyParent, rewardParent, "reward_from", Stages.GRPO);
        }
        List<GptConfig> frozen = new ArrayList<>();
        if (cfg.klCoef() > 0) {
            frozen.add(policyParent.config());
        }
        if (rewardParent != null) {
            frozen.add(rewardParent.config());
        }
        MemoryCheck.atStart(Stages.GRPO, policyParent.config(), policyParent.config().parameterCount(), frozen,
                Math.max(1, cfg.train().batchSize() * cfg.objective().groupSize() / cfg.objective().miniBatches()),
                policyParent.config().blockSize(), 1, cfg.train());
        Optional<LoadedCheckpoint> resume = TrainingLoop.latest(store, metrics);
        resume.ifPresent(policyParent::requireSameAs);

        Tokenizer tokenizer = policyParent.tokenizer();
        RolloutPrompts prompts = RolloutPrompts.read(cfg.data(), tokenizer, policyParent.config().blockSize(),
                cfg.rollout().maxNewTokens(), cfg.seed(), RewardSpec.requiredFields(cfg.rewards()), remote,
                Stages.GRPO);
        requireDemoQuestions(prompts);
        String cacheKey = cacheKey(prompts, policyParent, rewardParent);
        Optional<StageOutcome> hit = TrainingLoop.cached(Stages.GRPO, cache, cacheKey, store, resume, wallStart);
        if (hit.isPresent()) {
            return hit.get();
        }
        DemoWorld world = DemoWorld.behind(cfg.data().paths());

        try (NDManager manager = NDManager.newBaseManager();
             Gpt policy = Gpt.create(manager, policyParent.config(), cfg.seed());
             Gpt reference = cfg.klCoef() > 0 ? Gpt.create(manager, policyParent.config(), cfg.seed()) : null;
             Gpt reward = rewardParent != null ? Gpt.create(manager, rewardParent.config(), cfg.seed()) : null) {
            policyParent.loadInto(policy);
            if (reference != null) {
                policyParent.loadInto(reference);
            }
            RewardModel rewardModel = null;
            if (reward != null) {
                reward.addScoreHead(cfg.seed());
                rewardParent.loadInto(reward);
                rewardModel = new RewardModel(reward, RewardStats.of(rewardParent.checkpoint()), manager,
                        tokenizer.id(SpecialToken.PAD));
            }
            // Custom verifiers are loaded here: a missing class stops the stage before it trains.
            Rewards rewards = Rewards.build(cfg.rewards(), rewardModel);
            var models = new GrpoTask.Models(manager, policy, reference, policyParent, cfg.seed());
            try (AdamW optimizer = new AdamW(manager, policy.trainableParameters(), cfg.optimizer())) {
                TrainState state;
                GrpoTask task;
                if (resume.isPresent()) {
                    state = TrainingLoop.resume(resume.get(), cfg.resolved(), metrics, policy, optimizer);
                    task = new GrpoTask(cfg, models, optimizer, tokenizer, rewards, prompts.train(),
                            prompts.validation(), world, metrics, state.metrics());
                } else {
                    task = new GrpoTask(cfg, models, optimizer, tokenizer, rewards, prompts.train(),
                            prompts.validation(), world, metrics, Map.of());
                    Map<String, Double> before = new LinkedHashMap<>(KeepAlive.during(control,
                            KeepAlive.starting(cfg.train().maxSteps()), task::startMetrics));
                    before.put("promptsTrain", (double) prompts.train().size());
                    before.put("promptsValidation", (double) prompts.validation().size());
                    before.put("promptsSkippedTooLong", (double) prompts.skipped());
                    task.rememberStart(before);
                    state = TrainState.start(Stages.GRPO, cfg.seed(), task.lastValidationLoss(), policyParent.uri(),
                            cfg.resolved(), before);
                    log.info("starting {} from policy {}: {} training prompts × {} answers, rewards {}, held-out "
                                    + "reward {}", Stages.GRPO, policyParent.uri(), prompts.train().size(),
                            cfg.objective().groupSize(), rewards.names(), TrainingLoop.fmt(before.get("rewardSft")));
                }
                var settings = new TrainingLoop.Settings(Stages.GRPO, cfg.seed(), cfg.train().maxSteps(),
                        cfg.evalInterval(), cfg.checkpoint(), cfg.train().precision(),
                        cfg.train().exportDtype());
                var io = new TrainingLoop.Io(store, metrics, control, cache, cacheKey);
                setup.close();
                return new TrainingLoop(settings, task, policy, optimizer, tokenizer, io, state,
                        resume.map(c -> c.uri().toString()).orElse(null), wallStart).run();
            }
        }
    }

    /** The hidden rule grades demo-world questions only: any other prompt is refused before training, by name. */
    private void requireDemoQuestions(RolloutPrompts prompts) {
        for (int i = 0; i < cfg.rewards().size(); i++) {
            if (cfg.rewards().get(i).type() != RewardSpec.Type.HIDDEN_RULE) {
                continue;
            }
            DemoWorld grader = new DemoWorld(0); // which questions a world asks does not depend on its seed
            for (List<EncodedPrompt> list : List.of(prompts.train(), prompts.validation())) {
                for (EncodedPrompt p : list) {
                    if (grader.answer(p.prompt().lastUserTurn()).isEmpty()) {
                        throw BadInputException.field("rewards[" + i + "]", "hidden_rule grades the demo world's "
                                + "questions only, and the prompt \"" + p.prompt().lastUserTurn() + "\" is not one "
                                + "(use exact_number with an answer field for other data)");
                    }
                }
            }
        }
    }

    /** The resolved config (minus whether to cache), the prompts with their fields, and the parents' files. */
    private String cacheKey(RolloutPrompts prompts, ParentModel policy, ParentModel reward) {
        ObjectNode keyConfig = cfg.resolved().deepCopy();
        keyConfig.remove("cache");
        List<List<String>> inputs = new ArrayList<>();
        inputs.add(policy.digest());
        if (reward != null) {
            inputs.add(reward.digest());
        }
        inputs.addAll(prompts.texts());
        return StageCache.key(Stages.GRPO, keyConfig, inputs);
    }
}
