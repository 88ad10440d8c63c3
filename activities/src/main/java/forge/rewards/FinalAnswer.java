package forge.rewards;

import forge.demo.NumberWords;

import java.math.BigDecimal;
import java.util.Locale;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The final answer in a text, as math verifiers read it: after the last {@code ####} when there is one (GSM8K's
 * reference answers end "#### 72"), else the whole text; its final number is the last one in digits ("1,200",
 * "-3.5") or in words ("twelve", "twenty-one", "twenty one", "one hundred").
 */
public final class FinalAnswer {
    private static final String MARK = "####";
    private static final Pattern NUMBERISH = Pattern.compile("-?\\d[\\d,]*(?:\\.\\d+)?|[a-z]+(?:-[a-z]+)*");
    private static final Pattern EDGES = Pattern.compile("^[\\s\"'`.,;:!?()\\[\\]{}$]+|[\\s\"'`.,;:!?()\\[\\]{}]+$");

    private FinalAnswer() {}

    /** The part of the text that states the answer. */
    public static String tail(String text) {
        int mark = text.lastIndexOf(MARK);
        return mark < 0 ? text : text.substring(mark + MARK.length());
    }

    /** The last number of the answer part, or empty if it has none. */
    public static Optional<BigDecimal> number(String text) {
        Matcher m = NUMBERISH.matcher(tail(text).toLowerCase(Locale.ROOT));
        BigDecimal last = null;
        String previous = "";
        while (m.find()) {
            String tok = m.group();
            if (Character.isLetter(tok.charAt(0))) {
                int v = NumberWords.value(tok);
                if (tok.equals("hundred") && previous.equals("one")) {
                    last = BigDecimal.valueOf(100);
                } else if (v >= 1 && v <= 9 && NumberWords.isTens(previous) && last != null) {
                    last = last.add(BigDecimal.valueOf(v)); // "twenty one"
                } else if (v >= 0) {
                    last = BigDecimal.valueOf(v);
                }
            } else {
                last = new BigDecimal(tok.replace(",", ""));
            }
            previous = tok;
        }
        return Optional.ofNullable(last);
    }

    /** Whether the two texts' final numbers are equal as numbers ("72" = "72.0"); false if either has none. */
    public static boolean sameNumber(String completion, String reference) {
        Optional<BigDecimal> a = number(completion);
        Optional<BigDecimal> b = number(reference);
        return a.isPresent() && b.isPresent() && a.get().compareTo(b.get()) == 0;
    }

    /** The answer part, trimmed of surrounding whitespace, quotes and punctuation, lower-cased, spaces collapsed. */
    public static String normalised(String text) {
        return EDGES.matcher(tail(text).strip()).replaceAll("").replaceAll("\\s+", " ").toLowerCase(Locale.ROOT);
    }
}
