package forge.rewards;

import forge.config.ConfigNode;
import forge.errors.BadInputException;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * One entry of a stage's {@code rewards} list: where a reward comes from and how much it weighs.
 *
 * <ul>
 *   <li>{@code exact_number}: 1 when the reply's final number equals the row's {@code field} (default
 *       {@code answer}), else 0.</li>
 *   <li>{@code exact_string}: 1 when the reply's answer equals {@code field}, both normalised, else 0.</li>
 *   <li>{@code regex}: with {@code field}, the last match of {@code pattern} (its first group) must equal it; without,
 *       1 when {@code pattern} occurs (a format reward).</li>
 *   <li>{@code hidden_rule}: the demo world's grader (demo prompts only).</li>
 *   <li>{@code custom}: a {@link Verifier} class by name, on the worker's classpath; {@code field} is passed to it.</li>
 *   <li>{@code reward_model}: a trained reward model (the stage's {@code reward_from}, or this run's reward stage),
 *       its score normalised with the reward stage's statistics when {@code normalize}, clipped to ±{@code clip}.</li>
 * </ul>
 * Verifiers that throw give the reply {@code on_error} (default 0) and count an error.
 *
 * @param name unique in the list (default: the type; a type's later entries add their index): the key of the
 *             source's figures
 */
public record RewardSpec(String name, Type type, double weight, String field, String pattern, String className,
                         double onError, boolean normalize, double clip) {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9_]{1,64}");
    private static final Pattern CLASS_NAME = Pattern.compile("[A-Za-z_$][\\w$]*(\\.[A-Za-z_$][\\w$]*)*");

    public enum Type {
        EXACT_NUMBER, EXACT_STRING, REGEX, HIDDEN_RULE, CUSTOM, REWARD_MODEL;

        String key() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    /** {@code root.rewards}: at least one source. */
    public static List<RewardSpec> parseAll(ConfigNode root) {
        List<ConfigNode> nodes = root.list("rewards");
        if (nodes.isEmpty()) {
            throw BadInputException.field("rewards", "needs at least one reward source");
        }
        List<RewardSpec> out = new ArrayList<>();
        Set<Type> types = new HashSet<>();
        Set<String> names = new HashSet<>();
        for (int i = 0; i < nodes.size(); i++) {
            RewardSpec spec = parse(nodes.get(i), i, types);
            if (!names.add(spec.name())) {
                throw BadInputException.field("rewards[" + i + "].name", "\"" + spec.name() + "\" is used twice");
            }
            out.add(spec);
        }
        return List.copyOf(out);
    }

    /** @param typesBefore the types of the entries before this one; a repeated type's default name gets the index */
    private static RewardSpec parse(ConfigNode n, int i, Set<Type> typesBefore) {
        String where = "rewards[" + i + "]";
        String typeText = n.text("type", null);
        if (typeText == null) {
            throw BadInputException.field(where + ".type", "missing; one of exact_number, exact_string, regex, "
                    + "hidden_rule, custom, reward_model");
        }
        Type type;
        try {
            type = Type.valueOf(typeText.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw BadInputException.field(where + ".type", "must be exact_number, exact_string, regex, hidden_rule, "
                    + "custom or reward_model, got \"" + typeText + "\"");
        }
        String name = n.text("name", typesBefore.add(type) ? type.key() : type.key() + "_" + i);
        if (!NAME.matcher(name).matches()) {
            throw BadInputException.field(where + ".name", "must be 1-64 letters, digits or _, got \"" + name + "\"");
        }
        double weight = n.number("weight", 1.0);
        if (weight == 0) {
            throw BadInputException.field(where + ".weight", "must not be 0 (drop the source instead)");
        }
        String field = null;
        String pattern = null;
        String className = null;
        double onError = 0;
        boolean normalize = true;
        double clip = 5.0;
        switch (type) {
            case EXACT_NUMBER, EXACT_STRING -> field = n.text("field", "answer");
            case REGEX -> {
                pattern = n.text("pattern", null);
                field = n.text("field", null);
                if (pattern == null) {
                    throw BadInputException.field(where + ".pattern", "missing: the regex a reply must match");
                }
                try {
                    Pattern.compile(pattern);
                } catch (PatternSyntaxException e) {
                    throw BadInputException.field(where + ".pattern", "is not a valid regex: " + e.getDescription()
                            + " near index " + e.getIndex());
                }
            }
            case CUSTOM -> {
                className = n.text("class", null);
                field = n.text("field", null);
                if (className == null || !CLASS_NAME.matcher(className).matches()) {
                    throw BadInputException.field(where + ".class", className == null ? "missing: the fully qualified "
                            + "name of a class implementing " + Verifier.class.getName() : "\"" + className
                            + "\" is not a Java class name");
                }
            }
            case REWARD_MODEL -> {
                normalize = n.bool("normalize", true);
                clip = n.number("clip", 5.0);
                if (!(clip > 0)) {
                    throw BadInputException.field(where + ".clip", "must be > 0, got " + clip);
                }
            }
            case HIDDEN_RULE -> { }
        }
        if (type != Type.REWARD_MODEL) {
            onError = n.number("on_error", 0.0);
        }
        n.finish();
        return new RewardSpec(name, type, weight, field, pattern, className, onError, normalize, clip);
    }

    /** Fields every prompt row must carry for these sources, each with the reason, for {@code PromptDocuments}. */
    public static Map<String, String> requiredFields(List<RewardSpec> specs) {
        Map<String, String> out = new LinkedHashMap<>();
        for (int i = 0; i < specs.size(); i++) {
            RewardSpec s = specs.get(i);
            if (s.field() != null) {
                out.putIfAbsent(s.field(), "rewards[" + i + "] (" + s.type().key() + ") compares the reply with");
            }
        }
        return out;
    }

    public static boolean needRewardModel(List<RewardSpec> specs) {
        return specs.stream().anyMatch(s -> s.type() == Type.REWARD_MODEL);
    }
}
