using System.Text;
using System.Text.RegularExpressions;

namespace HealthChecks.TcpShaker.Docs.Tests;

/// <summary>
/// The C# snippets of the documentation, and how each becomes a file of one project.
/// </summary>
/// <remarks>
/// The convention, for whoever writes a ```csharp block in README.md, docs/*.md or src/*/PACKAGE.md:
/// <list type="bullet">
/// <item>No marker: the block is a whole <c>Program.cs</c>, as pasted into a new web app (top-level
/// statements, <c>args</c> in scope). Its <c>using</c> lines must be there, on top.</item>
/// <item><c>&lt;!-- snippet: fragment --&gt;</c> on the line before the fence: statements from the
/// middle of a <c>Program.cs</c>, using <c>builder</c> (WebApplicationBuilder), <c>app</c>
/// (WebApplication) or <c>services</c> (IServiceCollection). Its own <c>using</c> lines, if any, on top.</item>
/// <item><c>&lt;!-- snippet: file --&gt;</c>: a complete C# file (types, no top-level statements).</item>
/// </list>
/// The marker is an HTML comment, so the rendered page does not show it. Each block is compiled as
/// a method of a class of its own (so two blocks may declare the same variable), with a
/// <c>#line</c> directive: a compiler error names the markdown file and its line.
/// </remarks>
internal static partial class Snippets
{
    internal enum Kind
    {
        Program,
        Fragment,
        File,
    }

    internal sealed record Snippet(string Document, int Line, Kind Kind, string Code)
    {
        public override string ToString() => $"{Document}:{Line}";
    }

    /// <summary>The documents whose snippets must compile, relative to the repository root.</summary>
    internal static IEnumerable<string> Documents(string root) =>
        Directory.GetFiles(root, "README.md").Select(p => Path.GetRelativePath(root, p))
            .Concat(Directory.GetFiles(Path.Combine(root, "docs"), "*.md").Select(p => Path.GetRelativePath(root, p)))
            .Concat(Directory.GetDirectories(Path.Combine(root, "src"))
                .Select(d => Path.Combine(d, "PACKAGE.md")).Where(System.IO.File.Exists).Select(p => Path.GetRelativePath(root, p)))
            .Order(StringComparer.Ordinal);

    /// <summary>Every ```csharp block of <paramref name="markdown"/>, with its first code line (1-based) and kind.</summary>
    internal static List<Snippet> Extract(string document, string markdown)
    {
        string[] lines = markdown.ReplaceLineEndings("\n").Split('\n');
        var snippets = new List<Snippet>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].Trim() != "```csharp")
            {
                continue;
            }

            Kind kind = Kind.Program;
            if (i > 0 && MarkerPattern().Match(lines[i - 1]) is { Success: true } marker)
            {
                kind = marker.Groups[1].Value switch
                {
                    "fragment" => Kind.Fragment,
                    "file" => Kind.File,
                    "program" => Kind.Program,
                    string other => throw new FormatException($"{document}:{i}: unknown snippet kind '{other}' (program, fragment or file)"),
                };
            }

            int start = i + 1;
            int end = start;
            while (end < lines.Length && lines[end].Trim() != "```")
            {
                end++;
            }

            if (end == lines.Length)
            {
                throw new FormatException($"{document}:{i + 1}: a ```csharp block that never closes");
            }

            snippets.Add(new Snippet(document, start + 1, kind, string.Join('\n', lines[start..end])));
            i = end;
        }

        return snippets;
    }

    /// <summary>The C# file a snippet becomes; <paramref name="path"/> is what #line names.</summary>
    internal static string ToSource(Snippet snippet, string path, int index)
    {
        var source = new StringBuilder();
        if (snippet.Kind == Kind.File)
        {
            source.Append("#line ").Append(snippet.Line).Append(" \"").Append(path).Append("\"\n");
            source.Append(snippet.Code).Append('\n');
            return source.ToString();
        }

        // using directives stay on top of the file; the statements go into a method.
        string[] lines = snippet.Code.Split('\n');
        int body = 0;
        while (body < lines.Length && (UsingPattern().IsMatch(lines[body]) || lines[body].Trim().Length == 0))
        {
            if (lines[body].Trim().Length > 0)
            {
                source.Append("#line ").Append(snippet.Line + body).Append(" \"").Append(path).Append("\"\n");
                source.Append(lines[body]).Append('\n');
            }

            body++;
        }

        source.Append("#line hidden\n");
        source.Append("namespace Snippets;\n\n");
        source.Append("internal static class Snippet").Append(index).Append("\n{\n");
        source.Append(snippet.Kind == Kind.Fragment
            ? "    internal static async Task Run(Microsoft.AspNetCore.Builder.WebApplicationBuilder builder, Microsoft.AspNetCore.Builder.WebApplication app, Microsoft.Extensions.DependencyInjection.IServiceCollection services)\n"
            : "    internal static async Task Run(string[] args)\n");
        source.Append("    {\n");
        source.Append("#line ").Append(snippet.Line + body).Append(" \"").Append(path).Append("\"\n");
        source.Append(string.Join('\n', lines[body..])).Append('\n');
        source.Append("#line hidden\n");
        source.Append("        await Task.CompletedTask;\n    }\n}\n");
        return source.ToString();
    }

    [GeneratedRegex(@"^\s*<!--\s*snippet:\s*([a-z]+)\s*-->\s*$")]
    private static partial Regex MarkerPattern();

    [GeneratedRegex(@"^using\s+(static\s+)?[A-Za-z_][A-Za-z0-9_.]*(\s*=\s*[A-Za-z_][A-Za-z0-9_.<>]*)?\s*;\s*(//.*)?$")]
    private static partial Regex UsingPattern();
}
