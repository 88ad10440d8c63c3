package forge.train;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.Timer;

import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * Training metrics of one stage run, recorded into Micrometer's global registry (the worker decides who exports
 * it). Tagged by stage and run; a worker runs a handful of runs, so the label values stay bounded.
 */
public final class TrainingMetrics {
    private final AtomicReference<Double> loss = new AtomicReference<>(Double.NaN);
    private final AtomicReference<Double> valLoss = new AtomicReference<>(Double.NaN);
    private final AtomicReference<Double> valAccuracy = new AtomicReference<>(Double.NaN);
    private final AtomicReference<Double> lr = new AtomicReference<>(Double.NaN);
    private final AtomicReference<Double> gradNorm = new AtomicReference<>(Double.NaN);
    private final AtomicReference<Double> tokensPerSecond = new AtomicReference<>(0.0);
    private final AtomicReference<Double> step = new AtomicReference<>(0.0);
    private final Counter tokens;
    private final Counter resumes;
    private final Timer checkpointWrite;
    private final Counter checkpointBytes;
    private final Timer checkpointStall;
    private final Counter checkpointFailures;
    private final Counter checkpointCorruptSkipped;
    private final Timer checkpointRead;
    private final Counter checkpointBytesRead;
    private final Counter stepsLost;

    private final MeterRegistry registry;
    private final Tags tags;
    private final AtomicReference<PpoIteration> ppo = new AtomicReference<>();
    private final Map<String, AtomicReference<Double>> stageGauges = new ConcurrentHashMap<>();

    /** One PPO iteration's figures, exported as forge_ppo_* gauges (registered when a PPO stage first reports). */
    public record PpoIteration(double rewardMean, double rewardStd, double kl, double klCoef, double entropy,
                               double policyLoss, double valueLoss, double clipFraction, double approxKl,
                               double responseLength, double generationShare, double rolloutTokensPerSecond) {}

    private static final Map<String, TrainingMetrics> GLOBAL = new ConcurrentHashMap<>();

    /**
     * One instance per (run, stage) in the global registry: Micrometer keeps the first object a gauge was
     * registered with, so a second attempt on the same worker must update that same object.
     */
    public static TrainingMetrics of(String runId, String stage) {
        return GLOBAL.computeIfAbsent(runId + "/" + stage, k -> new TrainingMetrics(Metrics.globalRegistry, runId, stage));
    }

    public TrainingMetrics(MeterRegistry registry, String runId, String stage) {
        Tags tags = Tags.of("run", runId, "stage", stage);
        this.registry = registry;
        this.tags = tags;
        gauge(registry, "forge_train_loss", "training loss of the last step", loss, tags);
        gauge(registry, "forge_validation_loss", "loss on the validation split", valLoss, tags);
        gauge(registry, "forge_validation_accuracy", "held-out accuracy: answer tokens (sft), pairs ranked right (reward)",
                valAccuracy, tags);
        gauge(registry, "forge_learning_rate", "learning rate of the last step", lr, tags);
        gauge(registry, "forge_grad_norm", "global gradient norm before clipping", gradNorm, tags);
        gauge(registry, "forge_tokens_per_second", "training throughput of this attempt", tokensPerSecond, tags);
        gauge(registry, "forge_step", "optimizer steps completed", step, tags);
        tokens = Counter.builder("forge_tokens_trained").description("tokens trained by this worker").tags(tags).register(registry);
        resumes = Counter.builder("forge_resumes").description("times the stage resumed from a checkpoint").tags(tags).register(registry);
        checkpointWrite = Timer.builder("forge_checkpoint_write").description("background checkpoint upload").tags(tags).register(registry);
        checkpointBytes = Counter.builder("forge_checkpoint_bytes_written").baseUnit("bytes").tags(tags).register(registry);
        checkpointStall = Timer.builder("forge_checkpoint_stall").description("time the training thread spent on a checkpoint").tags(tags).register(registry);
        checkpointFailures = Counter.builder("forge_checkpoint_failures").description("checkpoints that failed to commit (the previous one stays the newest)").tags(tags).register(registry);
        checkpointCorruptSkipped = Counter.builder("forge_checkpoint_corrupt_skipped").description("torn or corrupt checkpoints passed over when resuming (an older valid one was used, or none)").tags(tags).register(registry);
        checkpointRead = Timer.builder("forge_checkpoint_read").description("loading and verifying the checkpoint a stage resumes from").tags(tags).register(registry);
        checkpointBytesRead = Counter.builder("forge_checkpoint_bytes_read").baseUnit("bytes").tags(tags).register(registry);
        stepsLost = Counter.builder("forge_steps_lost").description("steps an interrupted attempt had done beyond the checkpoint the next one resumed from").tags(tags).register(registry);
    }

    private static void gauge(MeterRegistry r, String name, String help, AtomicReference<Double> v, Tags tags) {
        Gauge.builder(name, v, AtomicReference::get).description(help).tags(tags).register(r);
    }

    void step(long done, double stepLoss, double stepLr, double stepGradNorm, long stepTokens, double tps) {
        step.set((double) done);
        loss.set(stepLoss);
        lr.set(stepLr);
        gradNorm.set(stepGradNorm);
        tokensPerSecond.set(tps);
        tokens.increment(stepTokens);
    }

    void validation(double loss, double accuracy) {
        valLoss.set(loss);
        valAccuracy.set(accuracy);
    }

    void resumed() {
        resumes.increment();
    }

    void checkpointCommitted(long bytes, double seconds) {
        checkpointBytes.increment(bytes);
        checkpointWrite.record((long) (seconds * 1e9), TimeUnit.NANOSECONDS);
    }

    void checkpointFailed() {
        checkpointFailures.increment();
    }

    void checkpointsCorruptSkipped(long count) {
        checkpointCorruptSkipped.increment(count);
    }

    void checkpointRead(long bytes, long nanos) {
        checkpointBytesRead.increment(bytes);
        checkpointRead.record(nanos, TimeUnit.NANOSECONDS);
    }

    void stepsLost(long steps) {
        stepsLost.increment(steps);
    }

    public void ppo(PpoIteration it) {
        if (ppo.getAndSet(it) == null) {
            ppoGauge("forge_ppo_reward_mean", "mean normalised reward-model score of the rollout", PpoIteration::rewardMean);
            ppoGauge("forge_ppo_reward_std", "standard deviation of the rollout's normalised scores", PpoIteration::rewardStd);
            ppoGauge("forge_ppo_kl", "mean per-response KL to the reference policy on the rollout", PpoIteration::kl);
            ppoGauge("forge_ppo_kl_coef", "KL penalty coefficient (beta)", PpoIteration::klCoef);
            ppoGauge("forge_ppo_entropy", "mean per-token entropy of the policy on its rollout", PpoIteration::entropy);
            ppoGauge("forge_ppo_policy_loss", "clipped surrogate loss, mean over the iteration's updates", PpoIteration::policyLoss);
            ppoGauge("forge_ppo_value_loss", "clipped value loss, mean over the iteration's updates", PpoIteration::valueLoss);
            ppoGauge("forge_ppo_clip_fraction", "fraction of tokens whose ratio was clipped", PpoIteration::clipFraction);
            ppoGauge("forge_ppo_approx_kl", "approximate KL between the rollout policy and the updated one", PpoIteration::approxKl);
            ppoGauge("forge_ppo_response_length", "mean response length in tokens", PpoIteration::responseLength);
            ppoGauge("forge_ppo_generation_share", "share of the iteration's time spent generating", PpoIteration::generationShare);
            ppoGauge("forge_ppo_rollout_tokens_per_second", "tokens generated per second of generation", PpoIteration::rolloutTokensPerSecond);
        }
    }

    private void ppoGauge(String name, String help, java.util.function.ToDoubleFunction<PpoIteration> field) {
        Gauge.builder(name, ppo, r -> r.get() == null ? Double.NaN : field.applyAsDouble(r.get()))
                .description(help).tags(tags).register(registry);
    }

    /**
     * A stage's own figure (GRPO's and DPO's {@code forge_grpo_*}, {@code forge_dpo_*}), registered on first use and
     * updated after; labelled by run and stage like the rest.
     */
    public void gauge(String name, String help, double value) {
        gauge(name, help, Tags.empty(), value);
    }

    /** {@link #gauge(String, String, double)} with more labels, e.g. {@code source} for a reward source's figure. */
    public void gauge(String name, String help, Tags labels, double value) {
        stageGauges.computeIfAbsent(name + labels, n -> {
            AtomicReference<Double> v = new AtomicReference<>(Double.NaN);
            gauge(registry, name, help, v, tags.and(labels));
            return v;
        }).set(value);
    }

    /** A reward-hacking monitor tripped (response length, KL, or the reward-model/ground-truth gap). */
    public void hackingWarning(String monitor) {
        Counter.builder("forge_ppo_hacking_warnings").description("reward-hacking monitors that tripped")
                .tags(tags.and("monitor", monitor)).register(registry).increment();
    }

    void checkpointStall(long nanos) {
        checkpointStall.record(nanos, TimeUnit.NANOSECONDS);
    }
}
