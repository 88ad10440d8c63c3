package forge.demo;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.OptionalInt;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The seeded world the demo trains on and is graded against: small-number arithmetic in words and digits, and
 * short stories about people counting things. Every stage's data comes from here, and the same hidden rule that
 * labels the preference data scores the policy's answers, so each stage's effect is measured against ground truth.
 *
 * <p>Every list is a pure function of (seed, arguments), and item i does not depend on how many items were asked
 * for: {@code sftExamples(100, s)} is the first 100 of {@code sftExamples(1000, s)}. Questions in {@link Split#TRAIN}
 * and {@link Split#HELD_OUT} never share a problem (operation and operands); pretraining documents state every
 * fact, because knowing arithmetic is what pretraining should bring.
 */
public final class DemoWorld {
    private static final long PRETRAIN = 1;
    private static final long SFT = 2;
    private static final long COMPARISONS = 3;
    private static final long RANKED = 4;
    private static final long PROMPTS = 5;

    private final long seed;

    public DemoWorld(long seed) {
        this.seed = seed;
    }

    public long seed() {
        return seed;
    }

    /**
     * The world behind the first {@code demo:} path among a stage's data sources, whose hidden rule can grade what
     * the stage produces; null when the data is real.
     */
    public static DemoWorld behind(List<String> sourcePaths) {
        for (int i = 0; i < sourcePaths.size(); i++) {
            if (DemoUri.isDemo(sourcePaths.get(i))) {
                return new DemoWorld(DemoUri.parse(sourcePaths.get(i), "data.sources[" + i + "].path").seed());
            }
        }
        return null;
    }

    public List<String> pretrainDocuments(int count) {
        requireCount(count);
        List<String> docs = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            docs.add(PretrainCorpus.document(Rng.stream(seed, PRETRAIN, i)));
        }
        return docs;
    }

    /**
     * Questions with correct, concise answers, written as a crowd of demonstrators would: 40% polite, 40% plain and
     * 20% rude. SFT imitates all of it; the reward model and PPO are what remove the rudeness.
     */
    public List<SftExample> sftExamples(int count, Split split) {
        requireCount(count);
        List<SftExample> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            SplittableRandom r = Rng.stream(seed, SFT * 2 + split.ordinal(), i);
            Problem p = problemIn(r, split);
            int tone = r.nextInt(5);
            ResponseStyle style = tone < 2 ? ResponseStyle.POLITE : tone < 4 ? ResponseStyle.PLAIN : ResponseStyle.RUDE;
            out.add(new SftExample(prompt(r, p), style.write(r, p)));
        }
        return out;
    }

    public List<Comparison> comparisons(int count, Split split) {
        requireCount(count);
        List<Comparison> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            SplittableRandom r = Rng.stream(seed, COMPARISONS * 2 + split.ordinal(), i);
            Problem p = problemIn(r, split);
            List<String> ranked = rankedResponses(r, p, 2);
            out.add(new Comparison(prompt(r, p), ranked.get(0), ranked.get(1)));
        }
        return out;
    }

    /** @param k responses per prompt, 2..{@link #maxRankSize()} */
    public List<RankedList> rankedLists(int count, int k, Split split) {
        requireCount(count);
        if (k < 2 || k > maxRankSize()) {
            throw new IllegalArgumentException("k must be in 2.." + maxRankSize() + ", got " + k);
        }
        List<RankedList> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            SplittableRandom r = Rng.stream(seed, RANKED * 2 + split.ordinal(), i);
            Problem p = problemIn(r, split);
            out.add(new RankedList(prompt(r, p), rankedResponses(r, p, k)));
        }
        return out;
    }

    public List<String> ppoPrompts(int count, Split split) {
        requireCount(count);
        List<String> out = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            SplittableRandom r = Rng.stream(seed, PROMPTS * 2 + split.ordinal(), i);
            out.add(prompt(r, problemIn(r, split)));
        }
        return out;
    }

    /** The most responses a ranked list can have: one per distinct score level of the response styles. */
    public static int maxRankSize() {
        return ResponseStyle.values().length - 1;
    }

    /**
     * The hidden rule: +1 for the right number (the last number in the response, digits or words), -1 otherwise;
     * -0.05 per word beyond 8 (at most -0.6); +0.2 if polite ("please", "thanks", "happy to help", ...);
     * -0.3 if rude ("obviously", "duh", "whatever", ...). Correct answers always score above wrong ones.
     *
     * @throws IllegalArgumentException if the prompt is not a question of this world
     */
    public double score(String prompt, String response) {
        return HiddenRule.score(problemOf(prompt), response == null ? "" : response);
    }

    /** Whether the response's claimed answer (its last number) is right. */
    public boolean correct(String prompt, String response) {
        return HiddenRule.correct(problemOf(prompt), response == null ? "" : response);
    }

    /** The right answer to a question of this world, or empty if the prompt is not one. */
    public OptionalInt answer(String prompt) {
        Problem p = HiddenRule.problem(prompt);
        return p == null ? OptionalInt.empty() : OptionalInt.of(p.answer());
    }

    /** The number a response claims as its answer (its last number), or empty. */
    public static OptionalInt claimedAnswer(String response) {
        return HiddenRule.claimedAnswer(response == null ? "" : response);
    }

    /** Which split a question of this world belongs to. */
    public Split splitOf(String prompt) {
        return problemOf(prompt).split();
    }

    /**
     * Writes pretrain.jsonl ({"text"}), sft.jsonl ({"prompt","response"}), prefs.jsonl ({"prompt","chosen",
     * "rejected"}), ranked.jsonl ({"prompt","responses"}) and prompts.jsonl ({"prompt"}) from the training split,
     * and the same four with a "_heldout" suffix from the held-out split.
     */
    public void writeJsonl(Path dir, DemoSizes sizes) throws IOException {
        DemoFiles.write(this, dir, sizes);
    }

    private static Problem problemOf(String prompt) {
        Problem p = HiddenRule.problem(prompt);
        if (p == null) {
            throw new IllegalArgumentException("not a question of the demo world: \"" + prompt + "\"");
        }
        return p;
    }

    private static Problem problemIn(SplittableRandom r, Split split) {
        Problem p;
        do {
            p = PretrainCorpus.randomProblem(r);
        } while (p.split() != split);
        return p;
    }

    private static String prompt(SplittableRandom r, Problem p) {
        Frame f = PretrainCorpus.frameFor(r, p, true);
        return f.question().render(Bindings.random(r, p, !f.symbolic() && r.nextBoolean()));
    }

    /** k responses in distinct styles with distinct scores, best first. */
    private static List<String> rankedResponses(SplittableRandom r, Problem p, int k) {
        while (true) {
            List<ResponseStyle> styles = new ArrayList<>(EnumSet.allOf(ResponseStyle.class));
            List<String> picked = new ArrayList<>();
            for (int i = 0; i < k; i++) {
                picked.add(styles.remove(r.nextInt(styles.size())).write(r, p));
            }
            picked.sort((x, y) -> Double.compare(HiddenRule.score(p, y), HiddenRule.score(p, x)));
            Set<Double> scores = new HashSet<>();
            picked.forEach(s -> scores.add(HiddenRule.score(p, s)));
            if (scores.size() == k) {
                return picked;
            }
        }
    }

    private static void requireCount(int count) {
        if (count < 0) {
            throw new IllegalArgumentException("count must be >= 0, got " + count);
        }
    }
}
