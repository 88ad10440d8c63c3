package forge.bench;

import ai.djl.engine.Engine;
import ai.djl.ndarray.NDManager;
import forge.errors.BadInputException;
import forge.model.GenerationOptions;
import forge.model.Gpt;
import forge.model.GptConfig;
import forge.tokenizer.SpecialToken;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.function.Consumer;

/**
 * What the KV cache buys in generation: new tokens per second with and without it, on randomly initialised models
 * (the weights do not change the work), and whether the two paths pick the same tokens. Every run generates exactly
 * {@code newTokens} tokens (no stop token) from random prompts of {@code promptTokens} tokens.
 */
public final class GenerationBench {

    /** A model shape to measure, under a short name for the table. */
    public record Model(String name, GptConfig config) {
        public String describe() {
            return String.format(Locale.ROOT, "%d layers, %d heads, %d wide, context %d, vocab %d", config.nLayer(),
                    config.nHead(), config.nEmbd(), config.blockSize(), config.vocabSize());
        }
    }

    /** The demo's model at context 320 (so 16 + 256 tokens fit). */
    public static final Model DEMO = new Model("demo", new GptConfig(512, 320, 4, 4, 128, 0.0, true));
    /** GPT-2 small's shape (124M parameters, nanoGPT's padded vocabulary) at context 512. */
    public static final Model GPT2_SMALL = new Model("gpt2-small", new GptConfig(50304, 512, 12, 12, 768, 0.0, true));
    /** GPT-2's vocabulary and context with half its depth and width (about 30M parameters). */
    public static final Model GPT2_NARROW = new Model("gpt2-6x384", new GptConfig(50304, 512, 6, 6, 384, 0.0, true));
    public static final List<Model> MODELS = List.of(DEMO, GPT2_NARROW, GPT2_SMALL);

    /**
     * @param promptTokens  tokens in every prompt
     * @param newTokens     tokens generated per row
     * @param batches       batch sizes to measure
     * @param seed          seeds the models, the prompts and the sampler
     * @param warmupTokens  tokens generated, per path, before anything is timed
     * @param greedyCheck   also generate greedily with and without the cache at the largest batch and compare
     */
    public record Settings(int promptTokens, int newTokens, List<Integer> batches, long seed, int warmupTokens,
                           boolean greedyCheck) {
        public Settings {
            if (promptTokens < 1) {
                throw BadInputException.field("bench.prompt_tokens", "must be >= 1, got " + promptTokens);
            }
            if (newTokens < 1) {
                throw BadInputException.field("bench.new_tokens", "must be >= 1, got " + newTokens);
            }
            if (batches == null || batches.isEmpty() || batches.stream().anyMatch(b -> b == null || b < 1)) {
                throw BadInputException.field("bench.batch", "must be one or more sizes >= 1, got " + batches);
            }
            if (warmupTokens < 0) {
                throw BadInputException.field("bench.warmup_tokens", "must be >= 0, got " + warmupTokens);
            }
            batches = List.copyOf(batches);
        }

        public static Settings defaults() {
            return new Settings(16, 256, List.of(1, 8), 1, 16, true);
        }
    }

    /** One model at one batch size: time and throughput of each path, and whether they sampled the same tokens. */
    public record Row(Model model, int batch, double uncachedSeconds, double cachedSeconds, long newTokens,
                      boolean sampledIdentical) {
        public double uncachedTokensPerSecond() {
            return newTokens / uncachedSeconds;
        }

        public double cachedTokensPerSecond() {
            return newTokens / cachedSeconds;
        }

        public double speedup() {
            return uncachedSeconds / cachedSeconds;
        }
    }

    /** Greedy generation with and without the cache: the first position (row, token) where they differ, if any. */
    public record GreedyCheck(Model model, int batch, int newTokens, int differingRows, int firstDifference) {
        public boolean identical() {
            return differingRows == 0;
        }
    }

    public record Result(Settings settings, List<Row> rows, List<GreedyCheck> checks, int torchThreads) {
        /** The table, one line per model and batch size, then the greedy checks. */
        public String markdown() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT, "%d new tokens per row from a %d-token prompt, temperature 1, "
                    + "seed %d, %d torch threads%n%n", settings.newTokens(), settings.promptTokens(), settings.seed(),
                    torchThreads));
            sb.append("| model | batch | no cache: tokens/s | KV cache: tokens/s | speedup | no cache: s | KV cache: s "
                    + "| same sampled tokens |\n");
            sb.append("|---|---:|---:|---:|---:|---:|---:|---|\n");
            for (Row r : rows) {
                sb.append(String.format(Locale.ROOT, "| %s | %d | %,.1f | %,.1f | **%.1f×** | %.2f | %.2f | %s |%n",
                        r.model().name(), r.batch(), r.uncachedTokensPerSecond(), r.cachedTokensPerSecond(),
                        r.speedup(), r.uncachedSeconds(), r.cachedSeconds(), r.sampledIdentical() ? "yes" : "no"));
            }
            if (!checks.isEmpty()) {
                sb.append('\n');
                for (GreedyCheck c : checks) {
                    sb.append(String.format(Locale.ROOT, "greedy, %s, batch %d, %d new tokens: %s%n", c.model().name(),
                            c.batch(), c.newTokens(), c.identical() ? "cached and uncached tokens identical"
                                    : c.differingRows() + " row(s) differ, first at new token " + c.firstDifference()));
                }
            }
            return sb.toString();
        }

        /** The report's view: each speedup against the target of 5× at 256 new tokens. */
        public BenchSection section() {
            List<BenchSection.Row> out = new ArrayList<>();
            for (Row r : rows) {
                out.add(BenchSection.Row.withTarget(String.format(Locale.ROOT, "%s (%s), batch %d: KV cache speedup",
                                r.model().name(), r.model().describe(), r.batch()),
                        String.format(Locale.ROOT, "%.1f× (%,.1f → %,.1f tokens/s)", r.speedup(),
                                r.uncachedTokensPerSecond(), r.cachedTokensPerSecond()),
                        "≥ 5× at 256 new tokens", r.speedup() >= 5));
            }
            List<String> notes = new ArrayList<>();
            notes.add(String.format(Locale.ROOT, "%d new tokens per row from a %d-token prompt, temperature 1, seed %d, "
                    + "randomly initialised weights; sampled tokens identical with and without the cache: %s.",
                    settings.newTokens(), settings.promptTokens(), settings.seed(),
                    rows.stream().allMatch(Row::sampledIdentical) ? "yes, in every row" : "**no**"));
            for (GreedyCheck c : checks) {
                notes.add(String.format(Locale.ROOT, "Greedy, %s, batch %d: %s.", c.model().name(), c.batch(),
                        c.identical() ? "cached and uncached tokens identical"
                                : c.differingRows() + " row(s) differ, first at new token " + c.firstDifference()));
            }
            return new BenchSection("Generation: the KV cache", out, notes);
        }
    }

    private GenerationBench() {
    }

    /** Measures every model in turn; progress gets a line before each timed run. */
    public static Result run(List<Model> models, Settings s, Consumer<String> progress) {
        List<Row> rows = new ArrayList<>();
        List<GreedyCheck> checks = new ArrayList<>();
        int maxBatch = s.batches().stream().mapToInt(Integer::intValue).max().orElseThrow();
        for (Model model : models) {
            if (s.promptTokens() + s.newTokens() > model.config().blockSize()) {
                throw BadInputException.field("bench", model.name() + ": " + s.promptTokens() + " prompt + "
                        + s.newTokens() + " new tokens do not fit its context of " + model.config().blockSize());
            }
            progress.accept("building " + model.name() + " (" + model.describe() + ")");
            try (NDManager manager = NDManager.newBaseManager(); Gpt gpt = Gpt.create(manager, model.config(), s.seed())) {
                if (s.warmupTokens() > 0) {
                    progress.accept(model.name() + ": warm-up");
                    int[][] prompts = prompts(model.config(), maxBatch, s.promptTokens(), s.seed());
                    for (boolean cached : new boolean[] {false, true}) {
                        gpt.generateBatch(prompts, options(s.warmupTokens(), 1.0, cached), s.seed());
                    }
                }
                for (int batch : s.batches()) {
                    int[][] prompts = prompts(model.config(), batch, s.promptTokens(), s.seed());
                    progress.accept(model.name() + ", batch " + batch + ": without the KV cache");
                    Timed plain = timed(gpt, prompts, options(s.newTokens(), 1.0, false), s.seed());
                    progress.accept(String.format(Locale.ROOT, "%s, batch %d: without the KV cache %.2f s; with it",
                            model.name(), batch, plain.seconds()));
                    Timed cached = timed(gpt, prompts, options(s.newTokens(), 1.0, true), s.seed());
                    rows.add(new Row(model, batch, plain.seconds(), cached.seconds(), (long) batch * s.newTokens(),
                            Arrays.deepEquals(plain.tokens(), cached.tokens())));
                }
                if (s.greedyCheck()) {
                    progress.accept(model.name() + ", batch " + maxBatch + ": greedy, with and without the KV cache");
                    int[][] prompts = prompts(model.config(), maxBatch, s.promptTokens(), s.seed() + 1);
                    int[][] plain = gpt.generateBatch(prompts, options(s.newTokens(), 0.0, false), s.seed());
                    int[][] cached = gpt.generateBatch(prompts, options(s.newTokens(), 0.0, true), s.seed());
                    checks.add(compare(model, s.promptTokens(), plain, cached));
                }
            }
        }
        return new Result(s, List.copyOf(rows), List.copyOf(checks), torchThreads());
    }

    private record Timed(double seconds, int[][] tokens) {
    }

    private static Timed timed(Gpt gpt, int[][] prompts, GenerationOptions o, long seed) {
        long t0 = System.nanoTime();
        int[][] out = gpt.generateBatch(prompts, o, seed);
        double seconds = (System.nanoTime() - t0) / 1e9;
        for (int[] row : out) {
            if (row.length != prompts[0].length + o.maxNewTokens()) {
                throw new IllegalStateException("a row stopped early: " + row.length + " tokens");
            }
        }
        return new Timed(seconds, out);
    }

    /** Full sampling (no top-k, no top-p), no stop token: every row generates exactly maxNewTokens. */
    static GenerationOptions options(int maxNewTokens, double temperature, boolean cached) {
        return new GenerationOptions(maxNewTokens, temperature, 0, 1.0, -1, cached);
    }

    /** batch prompts of ordinary (non-special) tokens, the same for the same arguments. */
    static int[][] prompts(GptConfig cfg, int batch, int length, long seed) {
        SplittableRandom rng = new SplittableRandom(seed * 31 + batch);
        int[][] out = new int[batch][length];
        int first = Math.min(SpecialToken.count(), cfg.vocabSize() - 1);
        for (int[] row : out) {
            for (int i = 0; i < length; i++) {
                row[i] = rng.nextInt(first, cfg.vocabSize());
            }
        }
        return out;
    }

    static GreedyCheck compare(Model model, int promptTokens, int[][] plain, int[][] cached) {
        int rows = 0;
        int first = -1;
        for (int r = 0; r < plain.length; r++) {
            int n = Math.max(plain[r].length, cached[r].length);
            for (int i = promptTokens; i < n; i++) {
                if (i >= plain[r].length || i >= cached[r].length || plain[r][i] != cached[r][i]) {
                    rows++;
                    int at = i - promptTokens;
                    first = first < 0 ? at : Math.min(first, at);
                    break;
                }
            }
        }
        return new GreedyCheck(model, plain.length, plain[0].length - promptTokens, rows, first);
    }

    /** The engine's intra-op thread count as DJL was told it ({@code ai.djl.pytorch.num_threads}), else the cores. */
    private static int torchThreads() {
        Engine.getInstance();
        String p = System.getProperty("ai.djl.pytorch.num_threads");
        try {
            return p != null ? Integer.parseInt(p) : Runtime.getRuntime().availableProcessors();
        } catch (NumberFormatException e) {
            return Runtime.getRuntime().availableProcessors();
        }
    }
}
