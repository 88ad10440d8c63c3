package forge.rewards;

import forge.demo.HiddenRuleVerifier;
import forge.errors.BadInputException;

import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/** A stage's reward sources, combined by weight: a completion's reward is Σ weight · source reward. */
public final class Rewards {
    private final List<RewardSource> sources;

    public Rewards(List<RewardSource> sources) {
        if (sources.isEmpty()) {
            throw new IllegalArgumentException("no reward sources");
        }
        this.sources = List.copyOf(sources);
    }

    /**
     * The sources the specs describe; custom verifier classes are loaded and instantiated here, so that a missing or
     * unusable one stops the stage before it trains, naming its entry.
     *
     * @param rewardModel the loaded reward model, or null when no spec is a {@code reward_model}
     */
    public static Rewards build(List<RewardSpec> specs, RewardModel rewardModel) {
        List<RewardSource> out = new ArrayList<>();
        for (int i = 0; i < specs.size(); i++) {
            RewardSpec s = specs.get(i);
            out.add(switch (s.type()) {
                case REWARD_MODEL -> {
                    if (rewardModel == null) {
                        throw new IllegalArgumentException("rewards[" + i + "] needs the reward model loaded");
                    }
                    RewardModel m = s.normalize() ? rewardModel
                            : new RewardModel(rewardModel.model(), new RewardStats(0, 1), rewardModel.manager(),
                            rewardModel.pad());
                    yield new RewardModelSource(s.name(), s.weight(), m, s.clip());
                }
                case EXACT_NUMBER -> verifier(s, new ExactNumber());
                case EXACT_STRING -> verifier(s, new ExactString());
                case REGEX -> verifier(s, new RegexMatch(Pattern.compile(s.pattern())));
                case HIDDEN_RULE -> verifier(s, new HiddenRuleVerifier());
                case CUSTOM -> verifier(s, custom(s.className(), "rewards[" + i + "].class"));
            });
        }
        return new Rewards(out);
    }

    private static RewardSource verifier(RewardSpec s, Verifier v) {
        return new VerifierSource(s.name(), s.weight(), v, s.field(), s.onError());
    }

    /** A user's {@link Verifier}, by class name: public, with a public no-argument constructor. */
    static Verifier custom(String className, String field) {
        Class<?> c;
        try {
            ClassLoader loader = Thread.currentThread().getContextClassLoader();
            c = Class.forName(className, true, loader != null ? loader : Rewards.class.getClassLoader());
        } catch (ClassNotFoundException | LinkageError e) {
            throw BadInputException.field(field, "class " + className + " is not on the worker's classpath ("
                    + e + "); add its jar to the worker");
        }
        if (!Verifier.class.isAssignableFrom(c)) {
            throw BadInputException.field(field, className + " does not implement " + Verifier.class.getName());
        }
        try {
            return (Verifier) c.getConstructor().newInstance();
        } catch (NoSuchMethodException | IllegalAccessException e) {
            throw BadInputException.field(field, className + " needs a public no-argument constructor");
        } catch (InstantiationException | InvocationTargetException e) {
            Throwable cause = e instanceof InvocationTargetException ite ? ite.getCause() : e;
            throw BadInputException.field(field, "constructing " + className + " failed: " + cause);
        }
    }

    public List<String> names() {
        return sources.stream().map(RewardSource::name).toList();
    }

    public int size() {
        return sources.size();
    }

    /**
     * @param total     per completion, Σ weight · source reward
     * @param perSource [source][completion], unweighted
     * @param errors    completions a verifier failed on (and gave its on_error reward)
     */
    public record Scored(double[] total, double[][] perSource, long errors) {
        /** The mean of source s's rewards over the completions. */
        public double mean(int s) {
            double sum = 0;
            for (double r : perSource[s]) {
                sum += r;
            }
            return sum / perSource[s].length;
        }

        public double totalMean() {
            double sum = 0;
            for (double r : total) {
                sum += r;
            }
            return sum / total.length;
        }
    }

    public Scored score(List<Completion> completions) {
        double[] total = new double[completions.size()];
        double[][] per = new double[sources.size()][];
        RewardSource.ErrorCount errors = new RewardSource.ErrorCount();
        for (int s = 0; s < sources.size(); s++) {
            per[s] = sources.get(s).score(completions, errors);
            for (int i = 0; i < total.length; i++) {
                total[i] += sources.get(s).weight() * per[s][i];
            }
        }
        return new Scored(total, per, errors.count());
    }
}
