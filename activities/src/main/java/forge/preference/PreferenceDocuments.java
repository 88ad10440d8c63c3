package forge.preference;

import com.fasterxml.jackson.databind.JsonNode;
import forge.chat.ChatMessages;
import forge.chat.Turn;
import forge.data.JsonlReader;
import forge.data.SourceSpec;
import forge.data.UriOpener;
import forge.demo.Comparison;
import forge.demo.DemoUri;
import forge.demo.DemoWorld;
import forge.demo.RankedList;
import forge.errors.BadInputException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.List;

/**
 * Reads reward-model preference data from a JSONL file (local path, {@code s3://}, optionally gzipped) or a demo URI
 * ({@code demo:prefs?seed=7&count=2000&split=train}, {@code demo:ranked?seed=7&count=500&k=4}), one
 * {@link PreferenceGroup} per line. Each non-blank line is one of:
 * <ol>
 *   <li><b>Comparison</b>: {@code {"prompt": "...", "chosen": "...", "rejected": "...", "margin": 0.5}}, where
 *       {@code margin} (a number &gt;= 0) and {@code "system": "..."} are optional; instead of {@code prompt} (and
 *       {@code system}) the context may be {@code "messages": [{"role": ..., "content": ...}, ...]} with roles
 *       system (first only), user and assistant, ending with a user message. The reply texts are kept verbatim.</li>
 *   <li><b>Anthropic HH transcripts</b>: {@code {"chosen": "\n\nHuman: ...\n\nAssistant: ...", "rejected": "..."}}
 *       with no {@code prompt} or {@code messages}, optionally with {@code margin}. The prompt is the longest shared
 *       prefix of the two transcripts that ends with an {@code "\n\nAssistant:"} marker; the replies are what follows
 *       it in each, whitespace-trimmed. The prompt's Human / Assistant turns become user / assistant turns (contents
 *       trimmed); a transcript may also start with {@code "Human:"} without the leading blank line.</li>
 *   <li><b>Ranked list</b>: {@code {"prompt": "...", "responses": ["best", ..., "worst"]}} (or {@code messages}
 *       instead of {@code prompt}): every (better, worse) pair, K(K-1)/2 of them, in one group; the better response
 *       is always the chosen one.</li>
 * </ol>
 *
 * <p><b>Bad input.</b> Keys other than the ones above are ignored, as {@link forge.stage.sft.SftDocuments} does (real
 * datasets carry ids, sources and scores). Everything below is a non-retryable {@link BadInputException} naming the
 * file and 1-based line, except the first item:
 * <ul>
 *   <li>identical chosen and rejected texts (exact, or after trimming for HH transcripts) carry no preference: the
 *       pair is <em>skipped</em> and counted in {@link Read#skippedIdenticalPairs()} (a comparison line then yields
 *       nothing and counts in {@link Read#skippedLines()}; a ranked list keeps its other pairs, and counts as a
 *       skipped line only if none is left). The first few are logged;</li>
 *   <li>a line that is not JSON, not valid UTF-8, or not a JSON object;</li>
 *   <li>a missing {@code chosen}, {@code rejected}, {@code prompt} / {@code messages} or {@code responses}, or one of
 *       the wrong JSON type (chosen / rejected given as message lists are not supported);</li>
 *   <li>ambiguous lines: both {@code prompt} and {@code messages}, {@code system} with {@code messages}, or
 *       {@code responses} together with {@code chosen}, {@code rejected} or {@code margin};</li>
 *   <li>a blank chosen, rejected or ranked response;</li>
 *   <li>a ranked list with fewer than two responses;</li>
 *   <li>a {@code margin} that is negative, not finite or not a number;</li>
 *   <li>a {@code messages} context that is empty, has an unknown role, a misplaced system message, a non-string
 *       content, or does not end with a user message;</li>
 *   <li>HH transcripts that share no prefix ending in {@code "\n\nAssistant:"}, that differ before their final
 *       Assistant reply (a {@code "\n\nHuman:"} follows the split point), that do not start with a Human turn, or
 *       whose final Assistant marker does not follow a Human turn.</li>
 * </ul>
 * A source with no usable group at all is an error naming the config field. The SourceSpec's format and field are not
 * used: preference files are always JSONL.
 */
public final class PreferenceDocuments {
    private static final Logger log = LoggerFactory.getLogger(PreferenceDocuments.class);
    private static final int LOGGED_SKIPS = 5;
    static final String HUMAN = "\n\nHuman:";
    static final String ASSISTANT = "\n\nAssistant:";

    private PreferenceDocuments() {
    }

    /**
     * The groups of a source, in file order, and what was skipped.
     *
     * @param skippedIdenticalPairs pairs left out because chosen and rejected were the same text
     * @param skippedLines          lines that yielded no group because all their pairs were identical
     */
    public record Read(List<PreferenceGroup> groups, int skippedIdenticalPairs, int skippedLines) {
        public Read {
            groups = List.copyOf(groups);
        }

        /** The number of (chosen, rejected) pairs over all groups. */
        public int pairs() {
            return groups.stream().mapToInt(g -> g.pairs().size()).sum();
        }
    }

    /** @param remote opens {@code s3://} paths; null where no object store is configured */
    public static Read read(SourceSpec src, int sourceIndex, UriOpener remote) {
        String where = "data.sources[" + sourceIndex + "]";
        String path = src.path();
        Collector c = new Collector(path);
        if (DemoUri.isDemo(path)) {
            DemoUri demo = DemoUri.parse(path, where + ".path");
            DemoWorld world = new DemoWorld(demo.seed());
            switch (demo.dataset()) {
                case "prefs" -> {
                    for (Comparison cmp : world.comparisons(demo.count(), demo.split())) {
                        c.groups.add(PreferenceGroup.comparison(cmp.prompt(), cmp.chosen(), cmp.rejected(), 0));
                    }
                }
                case "ranked" -> {
                    for (RankedList r : world.rankedLists(demo.count(), demo.k(), demo.split())) {
                        c.groups.add(PreferenceGroup.ranked(List.of(Turn.user(r.prompt())), r.responses()));
                    }
                }
                default -> throw BadInputException.field(where + ".path", path
                        + " is not preference data (use demo:prefs or demo:ranked)");
            }
        } else {
            JsonlReader.read(path, where, remote, (node, line) -> c.add(node, line));
        }
        if (c.skippedPairs > 0) {
            log.info("{}: skipped {} preference pairs whose chosen and rejected texts are identical ({} lines left "
                    + "with no pair)", path, c.skippedPairs, c.skippedLines);
        }
        if (c.groups.isEmpty()) {
            throw new BadInputException(where + ": " + path + " contains no preference pairs"
                    + (c.skippedPairs > 0 ? " (" + c.skippedPairs + " identical pairs were skipped)" : ""));
        }
        return new Read(c.groups, c.skippedPairs, c.skippedLines);
    }

    private static final class Collector {
        final String file;
        final List<PreferenceGroup> groups = new ArrayList<>();
        int skippedPairs;
        int skippedLines;

        Collector(String file) {
            this.file = file;
        }

        void add(JsonNode node, long line) {
            Parsed p = parse(node, file, line);
            skippedPairs += p.skippedIdenticalPairs();
            if (p.skippedIdenticalPairs() > 0 && skippedPairs - p.skippedIdenticalPairs() < LOGGED_SKIPS) {
                log.info("{}:{}: skipping {} pair(s) whose chosen and rejected texts are identical", file, line,
                        p.skippedIdenticalPairs());
            }
            if (p.group() == null) {
                skippedLines++;
            } else {
                groups.add(p.group());
            }
        }
    }

    /**
     * One parsed line.
     *
     * @param group                 null when every pair of the line was identical
     * @param skippedIdenticalPairs pairs of the line left out as identical
     */
    public record Parsed(PreferenceGroup group, int skippedIdenticalPairs) {
    }

    /** One line; public so other readers (e.g. an eval set) can share the exact rules and messages. */
    public static Parsed parse(JsonNode node, String file, long line) {
        if (!node.isObject()) {
            throw BadInputException.at(file, line, "expected a JSON object with \"prompt\", \"chosen\" and "
                    + "\"rejected\", \"chosen\" and \"rejected\" transcripts, or \"prompt\" and \"responses\"; got "
                    + kind(node));
        }
        if (node.has("responses")) {
            return ranked(node, file, line);
        }
        if (!node.has("chosen") && !node.has("rejected")) {
            throw BadInputException.at(file, line, "missing \"chosen\" and \"rejected\" (or \"responses\"): expected "
                    + "{\"prompt\", \"chosen\", \"rejected\"}, Anthropic HH {\"chosen\", \"rejected\"} transcripts, "
                    + "or {\"prompt\", \"responses\"}");
        }
        String chosen = reply(node, "chosen", file, line);
        String rejected = reply(node, "rejected", file, line);
        double margin = margin(node, file, line);
        if (!node.has("prompt") && !node.has("messages")) {
            return transcripts(chosen, rejected, margin, file, line);
        }
        List<Turn> prompt = context(node, file, line);
        requireNonBlank(chosen, "\"chosen\"", file, line);
        requireNonBlank(rejected, "\"rejected\"", file, line);
        if (chosen.equals(rejected)) {
            return new Parsed(null, 1);
        }
        return new Parsed(new PreferenceGroup(prompt, List.of(chosen, rejected),
                List.of(new PreferenceGroup.Pair(0, 1, margin))), 0);
    }

    private static Parsed ranked(JsonNode node, String file, long line) {
        for (String k : new String[] {"chosen", "rejected", "margin"}) {
            if (node.has(k)) {
                throw BadInputException.at(file, line, "a ranked list (\"responses\") cannot also have \"" + k
                        + "\"; use either \"responses\" or \"chosen\" and \"rejected\"");
            }
        }
        List<Turn> prompt = context(node, file, line);
        JsonNode rs = node.get("responses");
        if (!rs.isArray()) {
            throw BadInputException.at(file, line, "\"responses\" must be an array of strings, best first, got "
                    + kind(rs));
        }
        if (rs.size() < 2) {
            throw BadInputException.at(file, line, "\"responses\" has " + rs.size() + " response(s); a ranked list "
                    + "needs at least two to compare");
        }
        List<String> responses = new ArrayList<>(rs.size());
        for (int i = 0; i < rs.size(); i++) {
            JsonNode r = rs.get(i);
            if (!r.isTextual()) {
                throw BadInputException.at(file, line, "responses[" + i + "] must be a string, got " + kind(r));
            }
            requireNonBlank(r.textValue(), "responses[" + i + "]", file, line);
            responses.add(r.textValue());
        }
        int k = responses.size();
        int identical = 0;
        List<PreferenceGroup.Pair> pairs = new ArrayList<>(k * (k - 1) / 2);
        for (int i = 0; i < k; i++) {
            for (int j = i + 1; j < k; j++) {
                if (responses.get(i).equals(responses.get(j))) {
                    identical++;
                } else {
                    pairs.add(PreferenceGroup.Pair.of(i, j));
                }
            }
        }
        return new Parsed(pairs.isEmpty() ? null : new PreferenceGroup(prompt, responses, pairs), identical);
    }

    /** The context from "prompt" (+ optional "system") or "messages". */
    private static List<Turn> context(JsonNode node, String file, long line) {
        boolean hasPrompt = node.has("prompt");
        boolean hasMessages = node.has("messages");
        if (hasPrompt && hasMessages) {
            throw BadInputException.at(file, line, "give the context as \"prompt\" or as \"messages\", not both");
        }
        if (!hasPrompt && !hasMessages) {
            throw BadInputException.at(file, line, "missing string field \"prompt\" (or a \"messages\" list)");
        }
        if (hasMessages) {
            if (node.has("system")) {
                throw BadInputException.at(file, line, "\"system\" goes with \"prompt\"; with \"messages\" put a "
                        + "system message first");
            }
            return messages(node.get("messages"), file, line);
        }
        JsonNode p = node.get("prompt");
        if (!p.isTextual()) {
            throw BadInputException.at(file, line, "\"prompt\" must be a string, got " + kind(p));
        }
        JsonNode s = node.get("system");
        if (s == null || s.isNull()) {
            return List.of(Turn.user(p.textValue()));
        }
        if (!s.isTextual()) {
            throw BadInputException.at(file, line, "\"system\" must be a string, got " + kind(s));
        }
        return List.of(Turn.system(s.textValue()), Turn.user(p.textValue()));
    }

    private static List<Turn> messages(JsonNode messages, String file, long line) {
        List<Turn> turns = ChatMessages.parse(messages, file, line);
        if (!turns.get(turns.size() - 1).role().equals(Turn.USER)) {
            throw BadInputException.at(file, line, "\"messages\" must end with a user message (the one the chosen "
                    + "and rejected replies answer), got " + turns.get(turns.size() - 1).role());
        }
        return turns;
    }

    private static Parsed transcripts(String chosen, String rejected, double margin, String file, long line) {
        int lcp = 0;
        int max = Math.min(chosen.length(), rejected.length());
        while (lcp < max && chosen.charAt(lcp) == rejected.charAt(lcp)) {
            lcp++;
        }
        int marker = lcp < ASSISTANT.length() ? -1 : chosen.lastIndexOf(ASSISTANT, lcp - ASSISTANT.length());
        if (marker < 0) {
            throw BadInputException.at(file, line, "\"chosen\" and \"rejected\" have no \"prompt\", so they must be "
                    + "Anthropic HH transcripts (\"\\n\\nHuman: ...\\n\\nAssistant: ...\") sharing the conversation up "
                    + "to a final \"\\n\\nAssistant:\"; these share no prefix ending in \"\\n\\nAssistant:\"");
        }
        int end = marker + ASSISTANT.length();
        String c = chosen.substring(end);
        String r = rejected.substring(end);
        if (c.contains(HUMAN) || r.contains(HUMAN)) {
            throw BadInputException.at(file, line, "the \"chosen\" and \"rejected\" transcripts differ before their "
                    + "final Assistant reply (a \"\\n\\nHuman:\" turn follows the point where they part at character "
                    + lcp + "); only the last reply may differ");
        }
        c = c.strip();
        r = r.strip();
        requireNonBlank(c, "the final Assistant reply of \"chosen\"", file, line);
        requireNonBlank(r, "the final Assistant reply of \"rejected\"", file, line);
        List<Turn> prompt = transcriptTurns(chosen.substring(0, marker), file, line);
        if (c.equals(r)) {
            return new Parsed(null, 1);
        }
        return new Parsed(new PreferenceGroup(prompt, List.of(c, r), List.of(new PreferenceGroup.Pair(0, 1, margin))),
                0);
    }

    /** The turns of an HH transcript (without its final "\n\nAssistant:"), which must start with a Human turn. */
    static List<Turn> transcriptTurns(String text, String file, long line) {
        String s = text.startsWith("Human:") ? "\n\n" + text : text;
        if (!s.startsWith(HUMAN)) {
            throw BadInputException.at(file, line, "an HH transcript must start with \"\\n\\nHuman:\", got \""
                    + preview(s) + "\"");
        }
        List<Turn> turns = new ArrayList<>();
        int at = 0;
        while (at < s.length()) {
            boolean human = s.startsWith(HUMAN, at);
            int from = at + (human ? HUMAN.length() : ASSISTANT.length());
            int next = nextMarker(s, from);
            String content = s.substring(from, next < 0 ? s.length() : next).strip();
            turns.add(human ? Turn.user(content) : Turn.assistant(content));
            at = next < 0 ? s.length() : next;
        }
        if (!turns.get(turns.size() - 1).role().equals(Turn.USER)) {
            throw BadInputException.at(file, line, "in the HH transcripts the final \"\\n\\nAssistant:\" reply must "
                    + "follow a \"\\n\\nHuman:\" turn, but follows another Assistant turn");
        }
        return turns;
    }

    private static int nextMarker(String s, int from) {
        int h = s.indexOf(HUMAN, from);
        int a = s.indexOf(ASSISTANT, from);
        return h < 0 ? a : a < 0 ? h : Math.min(h, a);
    }

    private static String reply(JsonNode node, String field, String file, long line) {
        JsonNode v = node.get(field);
        if (v == null) {
            throw BadInputException.at(file, line, "missing string field \"" + field + "\" (a comparison needs both "
                    + "\"chosen\" and \"rejected\")");
        }
        if (!v.isTextual()) {
            throw BadInputException.at(file, line, "\"" + field + "\" must be a string, got " + kind(v)
                    + (v.isArray() ? " (chosen / rejected message lists are not supported: give the context as "
                    + "\"prompt\" or \"messages\" and the replies as strings)" : ""));
        }
        return v.textValue();
    }

    private static double margin(JsonNode node, String file, long line) {
        JsonNode m = node.get("margin");
        if (m == null || m.isNull()) {
            return 0;
        }
        if (!m.isNumber()) {
            throw BadInputException.at(file, line, "\"margin\" must be a number >= 0, got " + kind(m));
        }
        double v = m.doubleValue();
        if (!(v >= 0) || Double.isInfinite(v)) {
            throw BadInputException.at(file, line, "\"margin\" must be a finite number >= 0, got " + m.asText());
        }
        return v;
    }

    private static void requireNonBlank(String text, String what, String file, long line) {
        if (text.isBlank()) {
            throw BadInputException.at(file, line, what + " is empty; a preference needs two real replies");
        }
    }

    private static String preview(String s) {
        String p = s.length() > 40 ? s.substring(0, 40) + "..." : s;
        return p.replace("\n", "\\n");
    }

    private static String kind(JsonNode v) {
        return ChatMessages.kind(v);
    }
}
