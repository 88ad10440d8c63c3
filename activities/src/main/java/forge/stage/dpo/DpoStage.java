package forge.stage.dpo;

import ai.djl.ndarray.NDManager;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.chat.ChatEncoder;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.data.SourceSpec;
import forge.data.UriOpener;
import forge.demo.DemoWorld;
import forge.errors.BadInputException;
import forge.model.Gpt;
import forge.optim.AdamW;
import forge.preference.EncodedGroup;
import forge.preference.PreferenceBatch;
import forge.preference.PreferenceBatchSampler;
import forge.preference.PreferenceDocuments;
import forge.preference.PreferenceEncoder;
import forge.preference.PreferenceGroup;
import forge.preference.PreferenceSplit;
import forge.rollout.EncodedPrompt;
import forge.rollout.HeldOutAnswers;
import forge.rollout.Prompt;
import forge.rollout.PromptDocuments;
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
 * Direct preference optimisation (Rafailov et al. 2023): the SFT policy is trained on the reward stage's comparisons
 * to raise its log-probability ratio to a frozen copy of itself on the chosen reply against the rejected one, with no
 * reward model and no sampling. β·log(π/π_ref) is then an implicit reward, and its held-out pair accuracy is
 * comparable with the reward stage's on the same pairs. Batches are (seed, step)-pure like the reward stage's, so a
 * resumed run repeats the original bit for bit. The output is a plain GPT-2.
 */
public final class DpoStage {
    private static final Logger log = LoggerFactory.getLogger(DpoStage.class);

    private final DpoConfig cfg;
    private final CheckpointStore store;
    private final UriOpener remote;
    private final TrainingMetrics metrics;
    private final StageCache cache;
    private final String policyUri;

    /** @param sftOutput this run's sft output, the default policy and reference */
    public DpoStage(DpoConfig cfg, String sftOutput, CheckpointStore store, UriOpener remote, TrainingMetrics metrics,
                    StageCache cache) {
        this.cfg = cfg;
        this.store = store;
        this.remote = remote;
        this.metrics = metrics;
        this.cache = cfg.cache() ? cache : null;
        this.policyUri = ParentModel.uri(cfg.initFrom(), sftOutput, Stages.DPO);
    }

    public StageOutcome run(StageControl control) {
        // Setup (data, tokenizer, parents, checkpoint download) can outlast a short heartbeat timeout on a cold worker.
        try (KeepAlive.Running setup = KeepAlive.start(control, KeepAlive.settingUp(control, cfg.train().maxSteps()))) {
            return run(control, setup);
        }
    }

    private StageOutcome run(StageControl control, KeepAlive.Running setup) {
        long wallStart = System.nanoTime();
        Optional<StageOutcome> done = TrainingLoop.finishedBefore(Stages.DPO, store, wallStart);
        if (done.isPresent()) {
            return done.get();
        }
        ParentModel parent = ParentModel.load(store, policyUri);
        MemoryCheck.atStart(Stages.DPO, parent.config(), parent.config().parameterCount(), List.of(parent.config()),
                2 * cfg.train().batchSize(), parent.config().blockSize(), 1, cfg.train());
        if (parent.weights().containsKey("score.weight")) {
            throw BadInputException.field("init_from", parent.uri() + " is a reward model, not a policy (it has a "
                    + "score head); start DPO from an SFT checkpoint");
        }
        Optional<LoadedCheckpoint> resume = TrainingLoop.latest(store, metrics);
        resume.ifPresent(parent::requireSameAs);

        List<PreferenceDocuments.Read> sources = new ArrayList<>();
        for (int i = 0; i < cfg.sources().size(); i++) {
            sources.add(PreferenceDocuments.read(cfg.sources().get(i), i, remote));
        }
        Tokenizer tokenizer = parent.tokenizer();
        int blockSize = parent.config().blockSize();
        List<EncodedPrompt> questions = questions(tokenizer, blockSize);
        String cacheKey = cacheKey(sources, questions, parent);
        Optional<StageOutcome> hit = TrainingLoop.cached(Stages.DPO, cache, cacheKey, store, resume, wallStart);
        if (hit.isPresent()) {
            return hit.get();
        }
        PreferenceEncoder encoder = new PreferenceEncoder(tokenizer, blockSize, cfg.truncation());
        List<EncodedGroup> train = new ArrayList<>();
        List<EncodedGroup> validation = new ArrayList<>();
        for (int i = 0; i < sources.size(); i++) {
            // The reward stage's split for the same seed and val_fraction: both are measured on the same pairs.
            PreferenceSplit split = PreferenceSplit.of(sources.get(i).groups(), cfg.valFraction(), cfg.seed());
            String name = "data.sources[" + i + "] (" + cfg.sources().get(i).path() + ")";
            train.addAll(encoder.encodeAll(split.train(), name).groups());
            validation.addAll(encoder.encodeAll(split.validation(), name + " validation split").groups());
        }
        if (train.isEmpty() || validation.isEmpty()) {
            throw BadInputException.field("data.sources", "left " + train.size() + " training and " + validation.size()
                    + " validation prompts with comparisons; DPO needs both");
        }
        int pad = tokenizer.id(SpecialToken.PAD);
        PreferenceBatchSampler sampler = new PreferenceBatchSampler(train, blockSize, cfg.seed(), pad);
        List<PreferenceBatch> valBatches = new PreferenceBatchSampler(validation, blockSize, cfg.seed(), pad)
                .sequential(cfg.train().batchSize());
        if (valBatches.size() > cfg.eval().batches()) {
            valBatches = valBatches.subList(0, cfg.eval().batches());
        }
        DemoWorld world = DemoWorld.behind(cfg.questions().stream().map(SourceSpec::path).toList());

        try (NDManager manager = NDManager.newBaseManager();
             Gpt policy = Gpt.create(manager, parent.config(), cfg.seed());
             Gpt reference = Gpt.create(manager, parent.config(), cfg.seed())) {
            parent.loadInto(policy);
            parent.loadInto(reference);
            reference.freeze(name -> true);
            HeldOutAnswers heldOut = questions.isEmpty() ? null : new HeldOutAnswers(questions, cfg.rollout(),
                    ChatEncoder.endOfTurn(tokenizer), tokenizer, world, manager);
            try (AdamW optimizer = new AdamW(manager, policy.trainableParameters(), cfg.optimizer())) {
                DpoTask task = new DpoTask(cfg, policy, reference, manager, sampler, valBatches, heldOut);
                TrainState state;
                if (resume.isPresent()) {
                    state = TrainingLoop.resume(resume.get(), cfg.resolved(), metrics, policy, optimizer);
                } else {
                    Map<String, Double> before = new LinkedHashMap<>(KeepAlive.during(control,
                            KeepAlive.starting(cfg.train().maxSteps()), task::startMetrics));
                    before.put("pairsTrain", (double) train.stream().mapToInt(g -> g.pairs().size()).sum());
                    before.put("pairsValidation", (double) valBatches.stream().mapToInt(PreferenceBatch::pairs).sum());
                    state = TrainState.start(Stages.DPO, cfg.seed(), task.validationLoss(), parent.uri(),
                            cfg.resolved(), before);
                    log.info("starting {} from {}: {} prompts with {} pairs for training, β = {}, {} loss", Stages.DPO,
                            parent.uri(), train.size(), before.get("pairsTrain").longValue(), cfg.beta(),
                            cfg.loss().name().toLowerCase(java.util.Locale.ROOT));
                }
                var settings = new TrainingLoop.Settings(Stages.DPO, cfg.seed(), cfg.train().maxSteps(),
                        cfg.eval().interval(), cfg.checkpoint(), cfg.train().precision(),
                        cfg.train().exportDtype());
                var io = new TrainingLoop.Io(store, metrics, control, cache, cacheKey);
                setup.close();
                return new TrainingLoop(settings, task, policy, optimizer, tokenizer, io, state,
                        resume.map(c -> c.uri().toString()).orElse(null), wallStart).run();
            }
        }
    }

    /** The held-out questions, encoded as rollout prompts; those that leave no room for an answer are dropped. */
    private List<EncodedPrompt> questions(Tokenizer tokenizer, int blockSize) {
        int room = blockSize - cfg.rollout().maxNewTokens();
        if (!cfg.questions().isEmpty() && room < 2) {
            throw BadInputException.field("rollout.max_new_tokens", cfg.rollout().maxNewTokens() + " leaves no room "
                    + "for a question in the policy's block_size of " + blockSize);
        }
        List<EncodedPrompt> out = new ArrayList<>();
        for (int i = 0; i < cfg.questions().size() && out.size() < cfg.evalPrompts(); i++) {
            for (Prompt p : PromptDocuments.read(cfg.questions().get(i), "data.questions[" + i + "]", remote)) {
                int[] ids = ChatEncoder.prompt(tokenizer, p.context(), Integer.MAX_VALUE);
                if (ids.length <= room && out.size() < cfg.evalPrompts()) {
                    out.add(new EncodedPrompt(p, ids));
                }
            }
        }
        return out;
    }

    /** This stage's resolved config (minus whether to cache), its data's content and its parent's files. */
    private String cacheKey(List<PreferenceDocuments.Read> sources, List<EncodedPrompt> questions, ParentModel parent) {
        ObjectNode keyConfig = cfg.resolved().deepCopy();
        keyConfig.remove("cache");
        List<List<String>> inputs = new ArrayList<>();
        inputs.add(parent.digest());
        for (PreferenceDocuments.Read source : sources) {
            List<String> docs = new ArrayList<>();
            for (PreferenceGroup g : source.groups()) {
                docs.add(g.toString());
            }
            inputs.add(docs);
        }
        inputs.add(questions.stream().map(q -> q.prompt().toString()).toList());
        return StageCache.key(Stages.DPO, keyConfig, inputs);
    }
}
