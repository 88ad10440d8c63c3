package forge.demo;

import forge.errors.BadInputException;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * A data path that names demo-world data instead of a file, e.g. {@code demo:pretrain?seed=7&docs=20000} or
 * {@code demo:sft?seed=7&count=2000&split=held_out}. Any worker regenerates the same data from it, so the demo needs
 * no files anywhere.
 *
 * @param dataset pretrain, sft, prefs, ranked or prompts
 * @param count   documents (pretrain) or examples; {@code docs} and {@code count} are synonyms
 * @param k       responses per ranked list
 */
public record DemoUri(String dataset, long seed, int count, Split split, int k) {
    public static final String SCHEME = "demo:";
    private static final Set<String> DATASETS = Set.of("pretrain", "sft", "prefs", "ranked", "prompts");
    private static final Set<String> PARAMS = Set.of("seed", "docs", "count", "split", "k");
    private static final int MAX_COUNT = 10_000_000;

    public static boolean isDemo(String path) {
        return path != null && path.startsWith(SCHEME);
    }

    /** @param field the config field the uri came from, named in every error */
    public static DemoUri parse(String uri, String field) {
        if (!isDemo(uri)) {
            throw BadInputException.field(field, "\"" + uri + "\" is not a demo: path");
        }
        String rest = uri.substring(SCHEME.length());
        int q = rest.indexOf('?');
        String dataset = q < 0 ? rest : rest.substring(0, q);
        if (!DATASETS.contains(dataset)) {
            throw BadInputException.field(field, "unknown demo dataset \"" + dataset + "\" in " + uri
                    + " (expected one of pretrain, sft, prefs, ranked, prompts)");
        }
        Map<String, String> params = new LinkedHashMap<>();
        if (q >= 0 && q + 1 < rest.length()) {
            for (String kv : rest.substring(q + 1).split("&")) {
                int eq = kv.indexOf('=');
                String key = eq < 0 ? kv : kv.substring(0, eq);
                if (!PARAMS.contains(key) || eq < 0) {
                    throw BadInputException.field(field, "bad parameter \"" + kv + "\" in " + uri
                            + " (expected seed=, docs= or count=, split=, k=)");
                }
                params.put(key, kv.substring(eq + 1));
            }
        }
        long seed = number(params.getOrDefault("seed", "0"), "seed", uri, field, Long.MIN_VALUE, Long.MAX_VALUE);
        String countText = params.getOrDefault("docs", params.getOrDefault("count",
                dataset.equals("pretrain") ? "20000" : "2000"));
        int count = (int) number(countText, "count", uri, field, 1, MAX_COUNT);
        int k = (int) number(params.getOrDefault("k", "4"), "k", uri, field, 2, DemoWorld.maxRankSize());
        Split split;
        try {
            split = Split.valueOf(params.getOrDefault("split", "train").toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw BadInputException.field(field, "split must be train or held_out in " + uri);
        }
        return new DemoUri(dataset, seed, count, split, k);
    }

    private static long number(String text, String name, String uri, String field, long min, long max) {
        try {
            long v = Long.parseLong(text);
            if (v < min || v > max) {
                throw BadInputException.field(field, name + " must be in " + min + ".." + max + " in " + uri);
            }
            return v;
        } catch (NumberFormatException e) {
            throw BadInputException.field(field, name + " must be a whole number in " + uri + ", got \"" + text + "\"");
        }
    }
}
