package forge.chat;

import forge.errors.BadInputException;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JinjaTemplateTest {
    private static Map<String, Object> msg(String role, String content) {
        return Map.of("role", role, "content", content);
    }

    private static String render(String template, List<Map<String, Object>> messages, boolean addGenerationPrompt) {
        Map<String, Object> vars = new HashMap<>();
        vars.put("messages", messages);
        vars.put("add_generation_prompt", addGenerationPrompt);
        vars.put("bos_token", "<|begin_of_text|>");
        vars.put("eos_token", "<|eot_id|>");
        vars.put("tools", null);
        return JinjaTemplate.parse(template).render(vars);
    }

    @Test
    void fixtureChatMlRendersAsTransformersDid() throws IOException, URISyntaxException {
        Path dir = Path.of(getClass().getResource("/hf-fixtures/gpt2/chat_template.jinja").toURI()).getParent();
        String template = Files.readString(dir.resolve("chat_template.jinja"));
        // reference.json chat.prompt, as apply_chat_template(add_generation_prompt=True) rendered it
        assertEquals("<|im_start|>user\nWho art thou?<|im_end|>\n<|im_start|>assistant\n",
                render(template, List.of(msg("user", "Who art thou?")), true));
        assertEquals("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\nho<|im_end|>\n",
                render(template, List.of(msg("user", "hi"), msg("assistant", "ho")), false));
    }

    /** SmolLM2-Instruct's template: loop.first, != , string concatenation with +. */
    @Test
    void smolLm2Template() {
        String t = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                + "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                + "<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
                + "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}"
                + "{% endif %}";
        assertEquals("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
                + "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
                render(t, List.of(msg("user", "Hi")), true));
        assertEquals("<|im_start|>system\nBe brief<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n",
                render(t, List.of(msg("system", "Be brief"), msg("user", "Hi")), false));
    }

    /** The Llama 3 shape: bos_token, set, loop.index0, trim, ~ and + together, whitespace control, elif. */
    @Test
    void llama3StyleTemplate() {
        String t = """
                {%- set loop_messages = messages -%}
                {%- for message in loop_messages -%}
                    {%- set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + \
                message['content'] | trim + '<|eot_id|>' -%}
                    {%- if loop.index0 == 0 -%}
                        {%- set content = bos_token + content -%}
                    {%- elif message['role'] not in ['user', 'assistant', 'system'] -%}
                        {{- raise_exception('unknown role ' ~ message['role']) -}}
                    {%- endif -%}
                    {{- content -}}
                {%- endfor -%}
                {%- if add_generation_prompt -%}
                    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
                {%- endif -%}
                """.replace("\\\n", "");
        assertEquals("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|>"
                + "<|start_header_id|>assistant<|end_header_id|>\n\n",
                render(t, List.of(msg("user", "  Hello \n")), true));
        BadInputException e = assertThrows(BadInputException.class,
                () -> render(t, List.of(msg("user", "a"), msg("tool", "b")), false));
        assertTrue(e.getMessage().contains("unknown role tool"), e.getMessage());
    }

    /** Qwen2.5's opening: a default system prompt, attribute access, is defined / is none, loop.last, length. */
    @Test
    void qwenStyleTemplate() {
        String t = "{%- if tools is not none %}{{ raise_exception('no tools') }}{%- endif %}\n"
                + "{%- if messages[0]['role'] == 'system' %}\n"
                + "    {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
                + "{%- else %}\n"
                + "    {{- '<|im_start|>system\\nYou are Qwen.<|im_end|>\\n' }}\n"
                + "{%- endif %}\n"
                + "{%- for message in messages %}\n"
                + "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) %}\n"
                + "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
                + "    {%- elif message.role == \"assistant\" and message.tool_calls is not defined %}\n"
                + "        {{- '<|im_start|>assistant\\n' + message.content }}"
                + "{% if not loop.last %}{{ '<|im_end|>\\n' }}{% else %}{{ '<|im_end|>\\n' }}{% endif %}\n"
                + "    {%- endif %}\n"
                + "{%- endfor %}\n"
                + "{%- if add_generation_prompt %}\n"
                + "    {{- '<|im_start|>assistant\\n' }}{{ messages | length }}\n"
                + "{%- endif %}\n";
        assertEquals("<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\nq<|im_end|>\n"
                + "<|im_start|>assistant\na<|im_end|>\n",
                render(t, List.of(msg("user", "q"), msg("assistant", "a")), false));
        assertEquals("<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n2",
                render(t, List.of(msg("system", "S"), msg("user", "q")), true));
    }

    @Test
    void trimBlocksAndLstripBlocksAsTransformersSetsThem() {
        String t = "A\n  {% if true %}\nB\n  {% endif %}\nC{# note #}\nD";
        assertEquals("A\nB\nCD", render(t, List.of(), false));
        assertEquals("x-y", render("{{ 'x' }}  {{- '-' -}}  \n {{ 'y' }}", List.of(), false));
    }

    @Test
    void namespaceSetsCarryStateOutOfALoop() {
        String t = "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}"
                + "{{ ns.n }}|{{ messages[-1].content }}|{{ messages[1:] | length }}|{{ 'a,b' .split(',') | join('+') }}";
        assertThrows(BadInputException.class, () -> render(t, List.of(msg("user", "x")), false),
                "keyword arguments are refused, not ignored");
        String u = t.replace("namespace(n=0)", "namespace()").replace("{% for", "{% set ns.n = 0 %}{% for");
        assertEquals("2|y|1|a+b", render(u, List.of(msg("user", "x"), msg("assistant", "y")), false));
    }

    @Test
    void unsupportedConstructsFailNamingThem() {
        assertThrows(BadInputException.class, () -> JinjaTemplate.parse("{% macro f() %}{% endmacro %}"),
                "macro");
        BadInputException filter = assertThrows(BadInputException.class,
                () -> JinjaTemplate.parse("\n{{ x | wordcount }}"));
        assertEquals("chat_template: line 2: the filter \"|wordcount\" is not supported", filter.getMessage());
        BadInputException open = assertThrows(BadInputException.class,
                () -> JinjaTemplate.parse("{% for m in messages %}x"));
        assertTrue(open.getMessage().contains("missing {% endfor %}"), open.getMessage());
        BadInputException test = assertThrows(BadInputException.class,
                () -> JinjaTemplate.parse("{% if x is divisibleby(3) %}{% endif %}"));
        assertTrue(test.getMessage().contains("is divisibleby"), test.getMessage());
    }
}
