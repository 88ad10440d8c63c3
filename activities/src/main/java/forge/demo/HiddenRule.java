package forge.demo;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.OptionalInt;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The demo world's ground truth for answers. Correctness dominates (+1 right, -1 wrong or no number), then
 * conciseness (-0.05 per word beyond 8, at most -0.6), then tone (+0.2 polite, -0.3 rude). Any correct answer
 * (>= 0.1 with everything against it) therefore beats any wrong one (<= -0.8). The claimed answer is the last number
 * in the response, in digits or words.
 */
final class HiddenRule {
    static final double RIGHT = 1.0;
    static final double WRONG = -1.0;
    static final int CONCISE_WORDS = 8;
    static final double PER_EXTRA_WORD = 0.05;
    static final double MAX_LENGTH_PENALTY = 0.6;
    static final double POLITE = 0.2;
    static final double RUDE = -0.3;

    static final List<String> POLITE_MARKERS = List.of("please", "thank", "happy to help", "glad to help",
            "you're welcome");
    static final List<String> RUDE_MARKERS = List.of("obviously", "duh", "stupid", "dumb", "whatever",
            "figure it out yourself", "waste of my time");

    private static final Pattern NUMBERISH = Pattern.compile("-?\\d+|[a-z]+(?:-[a-z]+)*");

    private HiddenRule() {
    }

    /** The problem a demo-world prompt asks, or null if no question template of the world reads it. */
    static Problem problem(String prompt) {
        if (prompt == null) {
            return null;
        }
        for (Frame f : Frame.ALL) {
            int[] ab = f.question().read(prompt);
            if (ab != null && f.op().valid(ab[0], ab[1])) {
                return new Problem(f.op(), ab[0], ab[1]);
            }
        }
        return null;
    }

    static OptionalInt claimedAnswer(String response) {
        List<Integer> numbers = new ArrayList<>();
        Matcher m = NUMBERISH.matcher(response.toLowerCase(Locale.ROOT));
        String previous = "";
        while (m.find()) {
            String tok = m.group();
            if (Character.isLetter(tok.charAt(0))) {
                int v = NumberWords.value(tok);
                if (tok.equals("hundred") && previous.equals("one")) {
                    numbers.set(numbers.size() - 1, 100);
                } else if (v >= 1 && v <= 9 && NumberWords.isTens(previous)) {
                    numbers.set(numbers.size() - 1, numbers.get(numbers.size() - 1) + v); // "twenty one"
                } else if (v >= 0) {
                    numbers.add(v);
                }
            } else if (tok.length() <= 9) {
                numbers.add(Integer.parseInt(tok)); // longer digit runs are no answer this world could have
            }
            previous = tok;
        }
        return numbers.isEmpty() ? OptionalInt.empty() : OptionalInt.of(numbers.get(numbers.size() - 1));
    }

    static boolean correct(Problem p, String response) {
        OptionalInt claimed = claimedAnswer(response);
        return claimed.isPresent() && claimed.getAsInt() == p.answer();
    }

    static double score(Problem p, String response) {
        String lower = response.toLowerCase(Locale.ROOT);
        double s = correct(p, response) ? RIGHT : WRONG;
        int words = response.isBlank() ? 0 : response.strip().split("\\s+").length;
        s -= Math.min(MAX_LENGTH_PENALTY, PER_EXTRA_WORD * Math.max(0, words - CONCISE_WORDS));
        if (POLITE_MARKERS.stream().anyMatch(lower::contains)) {
            s += POLITE;
        }
        if (RUDE_MARKERS.stream().anyMatch(lower::contains)) {
            s += RUDE;
        }
        return Math.round(s * 10_000) / 10_000.0; // so equal-looking scores are equal, e.g. for tie checks
    }
}
