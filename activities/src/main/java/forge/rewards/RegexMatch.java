package forge.rewards;

import forge.rollout.Prompt;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A pattern over the completion. Without a reference field it is a format reward: 1 when the pattern occurs, else 0.
 * With one, the last match's first group (the whole match when the pattern has no group) must equal the reference
 * once both are {@link FinalAnswer#normalised}.
 */
public final class RegexMatch implements Verifier {
    private final Pattern pattern;

    public RegexMatch(Pattern pattern) {
        this.pattern = pattern;
    }

    @Override
    public double score(Prompt prompt, String completion, String reference) {
        Matcher m = pattern.matcher(completion);
        String found = null;
        while (m.find()) {
            found = m.groupCount() > 0 && m.group(1) != null ? m.group(1) : m.group();
        }
        if (reference == null) {
            return found != null ? 1 : 0;
        }
        return found != null && FinalAnswer.normalised(found).equals(FinalAnswer.normalised(reference)) ? 1 : 0;
    }
}
