package forge.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import forge.config.ShippedFiles;
import forge.errors.BadInputException;
import forge.stage.ppo.PpoConfig;
import forge.stage.ppo.PpoStage;
import forge.stage.pretrain.PretrainConfig;
import forge.stage.pretrain.PretrainStage;
import forge.stage.reward.RewardConfig;
import forge.stage.reward.RewardStage;
import forge.stage.sft.SftConfig;
import forge.stage.sft.SftStage;
import forge.train.StageControl;
import forge.train.TrainingMetrics;
import forge.train.TrainingProgress;
import forge.workflow.Stages;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.ToDoubleFunction;

/**
 * PPO rollout throughput on the demo's models and PPO settings: the real stages in this process, pretrain, SFT and
 * reward trained only briefly (the speed of a rollout does not depend on how good the models are), then PPO
 * iterations whose own timings say where the time goes: generating the answers, scoring them (policy, reference,
 * critic and reward model over the rollout), and the epochs of updates.
 */
public final class RolloutBench {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    /**
     * @param demoStages        the {@code stages} of the demo's spec: the models, data and PPO settings measured
     * @param pretrainSteps     steps of each parent stage: enough to build them, not to make them good
     * @param sftSteps          "
     * @param rewardSteps       "
     * @param warmupIterations  PPO iterations run but not counted (the first allocates and compiles)
     * @param iterations        PPO iterations measured
     * @param evalPrompts       held-out prompts PPO evaluates at its start and end (not timed; fewer is quicker)
     */
    public record Settings(ObjectNode demoStages, int pretrainSteps, int sftSteps, int rewardSteps,
                           int warmupIterations, int iterations, int evalPrompts) {
        public Settings {
            if (demoStages == null) {
                throw new BadInputException("bench: the demo's stages are needed");
            }
            for (String stage : List.of(Stages.PRETRAIN, Stages.SFT, Stages.REWARD, Stages.PPO)) {
                if (!demoStages.path(stage).isObject()) {
                    throw BadInputException.field("bench.stages." + stage, "missing from the demo's spec");
                }
            }
            positive("bench.pretrain_steps", pretrainSteps);
            positive("bench.sft_steps", sftSteps);
            positive("bench.reward_steps", rewardSteps);
            positive("bench.iterations", iterations);
            positive("bench.eval_prompts", evalPrompts);
            if (warmupIterations < 0) {
                throw BadInputException.field("bench.warmup_iterations", "must be >= 0, got " + warmupIterations);
            }
            demoStages = demoStages.deepCopy();
        }

        private static void positive(String field, int v) {
            if (v < 1) {
                throw BadInputException.field(field, "must be >= 1, got " + v);
            }
        }

        /** The demo's spec (config/demo.yaml), 100 / 50 / 50 parent steps, 1 + 8 PPO iterations. */
        public static Settings defaults() {
            return new Settings(readDemoStages(), 100, 50, 50, 1, 8, 32);
        }
    }

    /** One measured PPO iteration, as the stage timed it. */
    public record Iteration(long step, double seconds, long newTokens, double generationShare, double scoringShare,
                            double generationTokensPerSecond) {
        double iterationTokensPerSecond() {
            return newTokens / seconds;
        }

        double updateShare() {
            return 1 - generationShare - scoringShare;
        }
    }

    public record Result(Settings settings, List<Iteration> iterations, int batch, int maxNewTokens,
                         double parentSeconds, int torchThreads) {
        double mean(ToDoubleFunction<Iteration> f) {
            return iterations.stream().mapToDouble(f).average().orElse(Double.NaN);
        }

        double median(ToDoubleFunction<Iteration> f) {
            double[] v = iterations.stream().mapToDouble(f).sorted().toArray();
            int n = v.length;
            return n == 0 ? Double.NaN : n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
        }

        double min(ToDoubleFunction<Iteration> f) {
            return iterations.stream().mapToDouble(f).min().orElse(Double.NaN);
        }

        double max(ToDoubleFunction<Iteration> f) {
            return iterations.stream().mapToDouble(f).max().orElse(Double.NaN);
        }

        /** Mean new tokens per answer. */
        double answerLength() {
            return mean(i -> (double) i.newTokens()) / batch;
        }
    }

    private RolloutBench() {
    }

    /** config/demo.yaml's stages, from the working directory or else {@code $FORGE_HOME}, as {@code forge demo}. */
    public static ObjectNode readDemoStages() {
        Path file = ShippedFiles.resolve("config", "demo.yaml");
        try {
            JsonNode spec = YAML.readTree(file.toFile());
            if (spec == null || !spec.path("stages").isObject()) {
                throw new BadInputException(file + ": no stages");
            }
            return (ObjectNode) spec.get("stages");
        } catch (IOException e) {
            throw new BadInputException("cannot read the demo's spec " + file.toAbsolutePath() + ": " + e.getMessage(),
                    e);
        }
    }

    public static BenchSection run(Settings s, Consumer<String> progress) {
        return section(measure(s, progress));
    }

    public static Result measure(Settings s, Consumer<String> progress) {
        long t0 = System.nanoTime();
        try (BenchS3 s3 = BenchS3.start("rollout")) {
            progress.accept(String.format(Locale.ROOT, "pretrain: %d steps", s.pretrainSteps()));
            String base = new PretrainStage(PretrainConfig.parse(parent(s, Stages.PRETRAIN, s.pretrainSteps())),
                    s3.store("bench", Stages.PRETRAIN, 2), s3.storage, metrics(Stages.PRETRAIN), null)
                    .run(StageControl.NONE).checkpoint();
            progress.accept(String.format(Locale.ROOT, "sft: %d steps", s.sftSteps()));
            ObjectNode sftSpec = parent(s, Stages.SFT, s.sftSteps());
            if (sftSpec.has("task_eval")) {
                ((ObjectNode) sftSpec.get("task_eval")).put("count", 0);
            }
            String sft = new SftStage(SftConfig.parse(sftSpec), base, s3.store("bench", Stages.SFT, 2), s3.storage,
                    metrics(Stages.SFT), null).run(StageControl.NONE).checkpoint();
            progress.accept(String.format(Locale.ROOT, "reward: %d steps", s.rewardSteps()));
            String reward = new RewardStage(RewardConfig.parse(parent(s, Stages.REWARD, s.rewardSteps())), sft,
                    s3.store("bench", Stages.REWARD, 2), s3.storage, metrics(Stages.REWARD), null)
                    .run(StageControl.NONE).checkpoint();
            double parentSeconds = (System.nanoTime() - t0) / 1e9;

            PpoConfig ppo = PpoConfig.parse(ppo(s));
            List<Iteration> measured = new ArrayList<>();
            long total = (long) s.warmupIterations() + s.iterations();
            progress.accept(String.format(Locale.ROOT, "ppo: %d + %d iterations of %d prompts, up to %d new tokens "
                    + "each", s.warmupIterations(), s.iterations(), ppo.train().batchSize(),
                    ppo.rollout().maxNewTokens()));
            StageControl control = new StageControl() {
                @Override
                public void progress(TrainingProgress p) {
                    Map<String, Double> m = p.metrics();
                    if (!m.containsKey("iterationSeconds")) {
                        throw new IllegalStateException("the PPO stage reported no iteration timings: " + m.keySet());
                    }
                    Iteration it = new Iteration(p.step(), m.get("iterationSeconds"), m.get("newTokens").longValue(),
                            m.get("generationShare"), m.get("scoringShare"), m.get("rolloutTokensPerSecond"));
                    boolean counted = p.step() > s.warmupIterations();
                    if (counted) {
                        measured.add(it);
                    }
                    progress.accept(String.format(Locale.ROOT, "ppo iteration %d/%d%s: %.2f s, %d new tokens "
                                    + "(%.1f per answer), generating %.0f tokens/s; %.0f%% generating, %.0f%% "
                                    + "scoring, %.0f%% updating", p.step(), total, counted ? "" : " (warm-up)",
                            it.seconds(), it.newTokens(), (double) it.newTokens() / ppo.train().batchSize(),
                            it.generationTokensPerSecond(), 100 * it.generationShare(), 100 * it.scoringShare(),
                            100 * it.updateShare()));
                }

                @Override
                public void milestone(TrainingProgress p) {
                }

                @Override
                public boolean stopRequested() {
                    return false;
                }
            };
            new PpoStage(ppo, sft, reward, s3.store("bench", Stages.PPO, 2), s3.storage, metrics(Stages.PPO), null)
                    .run(control);
            return new Result(s, List.copyOf(measured), ppo.train().batchSize(), ppo.rollout().maxNewTokens(),
                    parentSeconds, torchThreads());
        }
    }

    private static TrainingMetrics metrics(String stage) {
        return new TrainingMetrics(new SimpleMeterRegistry(), "bench-rollout", stage);
    }

    /**
     * A parent stage as the demo configures it, trained for only {@code steps}: no validation or checkpoint before
     * the end and no samples, as none of them changes the models' shapes.
     */
    static ObjectNode parent(Settings s, String stage, int steps) {
        ObjectNode spec = s.demoStages().get(stage).deepCopy();
        spec.put("cache", false);
        ObjectNode train = spec.withObjectProperty("train");
        train.put("max_steps", steps);
        // The demo's schedule is for its own length; the defaults follow max_steps.
        train.remove(List.of("warmup_steps", "lr_decay_steps"));
        spec.withObjectProperty("eval").put("interval", steps).put("batches", 2);
        spec.withObjectProperty("checkpoint").put("interval_steps", steps).put("interval_seconds", 1.0e6);
        spec.withObjectProperty("sample").put("count", 0);
        return spec;
    }

    /** The demo's PPO with no checkpoint or validation between the first and the last iteration. */
    static ObjectNode ppo(Settings s) {
        int total = s.warmupIterations() + s.iterations();
        ObjectNode spec = s.demoStages().get(Stages.PPO).deepCopy();
        spec.put("cache", false);
        spec.withObjectProperty("train").put("max_steps", total);
        spec.withObjectProperty("eval").put("interval", total).put("prompts", s.evalPrompts());
        spec.withObjectProperty("checkpoint").put("interval_steps", total).put("interval_seconds", 1.0e6);
        spec.withObjectProperty("sample").put("count", 0);
        return spec;
    }

    /** The engine's intra-op thread count as DJL was told it ({@code ai.djl.pytorch.num_threads}), else the cores. */
    private static int torchThreads() {
        String p = System.getProperty("ai.djl.pytorch.num_threads");
        try {
            return p != null ? Integer.parseInt(p) : Runtime.getRuntime().availableProcessors();
        } catch (NumberFormatException e) {
            return Runtime.getRuntime().availableProcessors();
        }
    }

    public static BenchSection section(Result r) {
        List<BenchSection.Row> rows = new ArrayList<>();
        rows.add(BenchSection.Row.of("generation tokens/s (new tokens, KV cache), median [min–max]",
                String.format(Locale.ROOT, "%,.0f [%,.0f–%,.0f]", r.median(Iteration::generationTokensPerSecond),
                        r.min(Iteration::generationTokensPerSecond), r.max(Iteration::generationTokensPerSecond))));
        rows.add(BenchSection.Row.of("whole-iteration tokens/s (new tokens ÷ rollout, scoring and updates)",
                String.format(Locale.ROOT, "%,.0f", r.median(Iteration::iterationTokensPerSecond))));
        rows.add(BenchSection.Row.of("seconds per iteration, median [min–max]", String.format(Locale.ROOT,
                "%.2f [%.2f–%.2f]", r.median(Iteration::seconds), r.min(Iteration::seconds),
                r.max(Iteration::seconds))));
        rows.add(BenchSection.Row.of("time: generating / scoring / updating", String.format(Locale.ROOT,
                "%.0f%% / %.0f%% / %.0f%%", 100 * r.mean(Iteration::generationShare),
                100 * r.mean(Iteration::scoringShare), 100 * r.mean(Iteration::updateShare))));
        rows.add(BenchSection.Row.of("new tokens per answer (of at most " + r.maxNewTokens() + ")",
                String.format(Locale.ROOT, "%.1f", r.answerLength())));
        rows.add(BenchSection.Row.of("prompts per iteration; iterations measured",
                r.batch() + "; " + r.iterations().size() + " (after " + r.settings().warmupIterations()
                        + " warm-up)"));
        PretrainConfig pre = PretrainConfig.parse(r.settings().demoStages().get(Stages.PRETRAIN));
        PpoConfig ppo = PpoConfig.parse(r.settings().demoStages().get(Stages.PPO));
        List<String> notes = new ArrayList<>();
        notes.add(String.format(Locale.ROOT, "The real stages in this process on the demo's world, as config/demo.yaml "
                        + "sets them up: %d layers, %d heads, %d wide, context %d, %s tokenizer of %d; PPO on %d "
                        + "prompts per iteration, up to %d new tokens at temperature %s, %d epochs × %d mini-batches, "
                        + "critic %s; %d torch threads. Pretrain, SFT and reward ran only %d, %d and %d steps (%.0f s "
                        + "in all): a rollout costs the same whatever the weights, except through the answers' "
                        + "lengths.", pre.model().nLayer(), pre.model().nHead(), pre.model().nEmbd(),
                pre.model().blockSize(), pre.tokenizer().type(), pre.tokenizer().vocabSize(),
                ppo.train().batchSize(), ppo.rollout().maxNewTokens(), ppo.rollout().temperature(),
                ppo.objective().epochs(), ppo.objective().miniBatches(),
                ppo.critic().name().toLowerCase(Locale.ROOT).replace('_', ' '), r.torchThreads(),
                r.settings().pretrainSteps(), r.settings().sftSteps(), r.settings().rewardSteps(), r.parentSeconds()));
        notes.add("Timed by the PPO stage itself, per iteration: generating is sampling the batch's answers with the "
                + "KV cache; scoring is the forward passes over the rollout of the policy, the frozen reference, "
                + "the critic and the reward model; updating is the rest (advantages, then the epochs of clipped "
                + "mini-batch updates of policy and critic). Whole-iteration tokens/s divides the new tokens by all of "
                + "it. Validation and checkpoints fall outside the iterations.");
        double full = r.answerLength() / r.maxNewTokens();
        notes.add(String.format(Locale.ROOT, "Answers averaged %.1f of at most %d new tokens (%.0f%%). A barely "
                + "trained policy rarely samples its end-of-turn token, so answers run (nearly) to the limit and "
                + "every rollout does close to the full generation work; a policy that has learnt to stop makes "
                + "shorter rollouts, so fewer tokens per iteration and a smaller generation share.", r.answerLength(), r.maxNewTokens(),
                100 * full));
        return new BenchSection("PPO rollout throughput", rows, notes);
    }
}
