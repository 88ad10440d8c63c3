package forge.stage.pretrain;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.Shape;
import com.fasterxml.jackson.databind.node.ObjectNode;
import forge.checkpoint.CheckpointStore;
import forge.checkpoint.LoadedCheckpoint;
import forge.checkpoint.StageCache;
import forge.data.Batch;
import forge.data.BatchSampler;
import forge.data.Documents;
import forge.data.TokenizedCorpus;
import forge.data.UriOpener;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.optim.AdamW;
import forge.tokenizer.Tokenizer;
import forge.train.KeepAlive;
import forge.train.MemoryCheck;
import forge.train.StageControl;
import forge.train.StageOutcome;
import forge.train.TrainState;
import forge.train.TrainingLoop;
import forge.train.TrainingMetrics;
import forge.workflow.Stages;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The pretraining stage: next-token prediction on a mixed corpus. Resumes from the newest valid checkpoint of its
 * run, checkpoints in the background, and ends with the stage's {@code final/} output.
 */
public final class PretrainStage {
    private static final Logger log = LoggerFactory.getLogger(PretrainStage.class);

    private final PretrainConfig cfg;
    private final CheckpointStore store;
    private final UriOpener remote;
    private final TrainingMetrics metrics;
    private final StageCache cache;

    /** @param cache where finished stages are found and recorded; null turns reuse off */
    public PretrainStage(PretrainConfig cfg, CheckpointStore store, UriOpener remote, TrainingMetrics metrics,
                         StageCache cache) {
        this.cfg = cfg;
        this.store = store;
        this.remote = remote;
        this.metrics = metrics;
        this.cache = cfg.cache() ? cache : null;
    }

    public StageOutcome run(StageControl control) {
        // Setup (data, tokenizer, parents, checkpoint download) can outlast a short heartbeat timeout on a cold worker.
        try (KeepAlive.Running setup = KeepAlive.start(control, KeepAlive.settingUp(control, cfg.train().maxSteps()))) {
            return run(control, setup);
        }
    }

    private StageOutcome run(StageControl control, KeepAlive.Running setup) {
        long wallStart = System.nanoTime();
        Optional<StageOutcome> done = TrainingLoop.finishedBefore(Stages.PRETRAIN, store, wallStart);
        if (done.isPresent()) {
            return done.get();
        }
        Optional<LoadedCheckpoint> resume = TrainingLoop.latest(store, metrics);
        List<List<String>> docs = new ArrayList<>();
        for (int i = 0; i < cfg.sources().size(); i++) {
            docs.add(Documents.read(cfg.sources().get(i), i, remote));
        }
        String cacheKey = cacheKey(docs);
        Optional<StageOutcome> hit = TrainingLoop.cached(Stages.PRETRAIN, cache, cacheKey, store, resume, wallStart);
        if (hit.isPresent()) {
            return hit.get();
        }
        Tokenizer tokenizer = resume
                .map(c -> Tokenizer.fromHuggingFaceJson(new String(c.file("tokenizer.json"), StandardCharsets.UTF_8)))
                .orElseGet(() -> Tokenizer.train(cfg.tokenizer(), docs.stream().flatMap(List::stream).toList()));
        TokenizedCorpus corpus = new TokenizedCorpus(docs, cfg.sources(), tokenizer, cfg.valFraction());
        GptConfig gptConfig = cfg.gptConfig(tokenizer.vocabSize());
        MemoryCheck.atStart(Stages.PRETRAIN, gptConfig, gptConfig.parameterCount(), List.of(),
                cfg.train().batchSize(), gptConfig.blockSize(), 1, cfg.train());
        BatchSampler sampler = new BatchSampler(corpus, gptConfig.blockSize(), cfg.seed());
        List<Batch> valBatches = sampler.validation(cfg.eval().batches(), cfg.train().batchSize());

        try (NDManager manager = NDManager.newBaseManager();
             Gpt model = Gpt.create(manager, gptConfig, cfg.seed());
             AdamW optimizer = new AdamW(manager, model.parameters(), cfg.optimizer())) {
            PretrainTask task = new PretrainTask(cfg, model, manager, tokenizer, sampler, valBatches);
            TrainState state;
            if (resume.isPresent()) {
                state = TrainingLoop.resume(resume.get(), cfg.resolved(), metrics, model, optimizer);
            } else {
                double valStart = task.validationLoss();
                state = TrainState.start(Stages.PRETRAIN, cfg.seed(), valStart, null, cfg.resolved(),
                        Map.of("unigramBaseline", corpus.unigramEntropyNats()));
                log.info("starting {}: {} parameters, vocab {}, val loss {}", Stages.PRETRAIN,
                        gptConfig.parameterCount(), tokenizer.vocabSize(), valStart);
            }
            var settings = new TrainingLoop.Settings(Stages.PRETRAIN, cfg.seed(), cfg.train().maxSteps(),
                    cfg.eval().interval(), cfg.checkpoint(), cfg.train().precision(),
                        cfg.train().exportDtype());
            var io = new TrainingLoop.Io(store, metrics, control, cache, cacheKey);
            setup.close();
            return new TrainingLoop(settings, task, model, optimizer, tokenizer, io, state,
                    resume.map(c -> c.uri().toString()).orElse(null), wallStart).run();
        }
    }

    /** The cache key: this stage's resolved config (whether to cache is no part of it) and its data's content. */
    private String cacheKey(List<List<String>> docs) {
        ObjectNode keyConfig = cfg.resolved().deepCopy();
        keyConfig.remove("cache");
        return StageCache.key(Stages.PRETRAIN, keyConfig, docs);
    }

    /** Mean validation loss over the fixed validation batches, without recording gradients. */
    static double evaluate(Gpt model, NDManager manager, List<Batch> batches) {
        double sum = 0;
        for (Batch b : batches) {
            try (NDScope scope = new NDScope()) {
                NDArray x = manager.create(b.inputs(), new Shape(b.batchSize(), b.blockSize()));
                NDArray y = manager.create(b.targets(), new Shape(b.batchSize(), b.blockSize()));
                sum += Gpt.crossEntropy(model.forward(x, false), y, null).getFloat();
            }
        }
        return sum / batches.size();
    }
}
