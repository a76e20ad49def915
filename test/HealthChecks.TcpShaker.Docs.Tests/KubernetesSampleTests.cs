using HealthChecks.TcpShaker.Testing;

namespace HealthChecks.TcpShaker.Docs.Tests;

/// <summary>
/// samples/kubernetes: there is no cluster here, so the manifests are parsed and the fields that make them work
/// are checked (image, args, ports, probes, security context, the ConfigMaps the args name), the modules file
/// goes through the blackbox exporter's own <c>--config.check</c>, the file_sd targets and the Prometheus jobs
/// through <c>promtool check config</c> (Debian's prometheus and prometheus-blackbox-exporter; skipped, with the
/// reason, where they are missing).
/// </summary>
public sealed class KubernetesSampleTests
{
    private static readonly TimeSpan Limit = TimeSpan.FromSeconds(30);

    private static string Folder => Path.Combine(SnippetTests.RepositoryRoot, "samples", "kubernetes");

    private static List<YamlView> Load(string file) =>
        YamlView.ParseAll(File.ReadAllText(Path.Combine(Folder, file)), file);

    private static YamlView Kind(List<YamlView> documents, string kind) =>
        Assert.Single(documents, d => d.TextAt("kind") == kind);

    [Fact]
    public void Every_yaml_file_of_the_sample_parses_and_says_what_it_is()
    {
        string[] files = [.. Directory.EnumerateFiles(Folder, "*.y*ml", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(Folder, f)).Order()];

        Assert.Contains("prober.yaml", files);
        Assert.Contains("prober-daemonset.yaml", files);
        Assert.Contains(Path.Combine("prometheus", "blackbox-job.yml"), files);
        foreach (string file in files)
        {
            foreach (YamlView document in Load(file))
            {
                // A Kubernetes object names its kind and API; a Prometheus file has scrape jobs.
                Assert.True(
                    (document.Find("kind") is not null && document.Find("apiVersion") is not null) || document.Find("scrape_configs") is not null,
                    $"{document.Path} is neither a Kubernetes object nor a Prometheus configuration");
            }
        }
    }

    [Fact]
    public void The_prober_Deployment_serves_probes_on_the_Services_port_non_root_without_capabilities()
    {
        List<YamlView> documents = Load("prober.yaml");
        YamlView deployment = Kind(documents, "Deployment");
        YamlView service = Kind(documents, "Service");
        YamlView configMap = Kind(documents, "ConfigMap");
        YamlView pod = deployment["spec", "template"];
        YamlView container = Assert.Single(pod["spec", "containers"].Items);

        Assert.Equal("tcp-shaker:0.1.0", container["image"].Text);
        List<string> args = container["args"].Strings;
        Assert.Equal("serve", args[0]);
        // serve's default is 127.0.0.1:9115; the Service reaches the pod's address only.
        Assert.Equal("0.0.0.0:9115", ArgAfter(args, "--listen"));
        AssertMountedFromConfigMap(pod, container, ArgAfter(args, "--config"), configMap);

        YamlView port = Assert.Single(container["ports"].Items);
        Assert.Equal(("http", "9115"), (port["name"].Text, port["containerPort"].Text));
        YamlView servicePort = Assert.Single(service["spec", "ports"].Items);
        Assert.Equal(("9115", "http"), (servicePort["port"].Text, servicePort["targetPort"].Text));
        Assert.Equal("ClusterIP", service["spec", "type"].Text);
        string app = pod["metadata", "labels", "app.kubernetes.io/name"].Text;
        Assert.Equal(app, service["spec", "selector", "app.kubernetes.io/name"].Text);
        Assert.Equal(app, deployment["spec", "selector", "matchLabels", "app.kubernetes.io/name"].Text);
        Assert.True(int.Parse(deployment["spec", "replicas"].Text, System.Globalization.CultureInfo.InvariantCulture) >= 2);

        // The probes ask the prober itself, never a target.
        foreach (string probe in new[] { "readinessProbe", "livenessProbe" })
        {
            Assert.Equal(("/metrics", "http"), (container[probe, "httpGet", "path"].Text, container[probe, "httpGet", "port"].Text));
        }

        YamlView security = container["securityContext"];
        Assert.Equal("true", security["runAsNonRoot"].Text);
        Assert.Equal("true", security["readOnlyRootFilesystem"].Text);
        Assert.Equal("false", security["allowPrivilegeEscalation"].Text);
        Assert.Equal(["ALL"], security["capabilities", "drop"].Strings);
        Assert.Null(security.Find("capabilities", "add"));
        Assert.NotNull(container.Find("resources", "requests", "cpu"));
    }

    [Fact]
    public void The_probers_modules_file_is_one_the_blackbox_exporter_itself_accepts()
    {
        YamlView configMap = Kind(Load("prober.yaml"), "ConfigMap");
        string modulesText = configMap["data", "blackbox.yml"].Text;
        YamlView modules = YamlView.ParseAll(modulesText, "blackbox.yml")[0]["modules"];
        Assert.NotEmpty(modules.Keys);
        foreach (string name in modules.Keys)
        {
            Assert.Equal("tcp", modules[name, "prober"].Text);
            Assert.Null(modules.Find(name, "tcp", "query_response"));
            Assert.Null(modules.Find(name, "tcp", "tls"));
        }

        string? exporter = Sh.Which("prometheus-blackbox-exporter");
        Assert.SkipWhen(exporter is null, "prometheus-blackbox-exporter is not installed (Debian: apt-get install prometheus-blackbox-exporter)");
        // The blackbox exporter's part of the file, without this project's top-level tcp_shaker keys (the exporter knows none of them).
        string file = WriteTemp("blackbox.yml", YamlView.ParseAll(modulesText, "blackbox.yml")[0].Without("tcp_shaker"));
        (int exit, string stdout, string stderr) = Sh.TryRun(Limit, exporter!, "--config.check", "--config.file=" + file);
        Assert.True(exit == 0, stdout + stderr);
        Assert.Contains("Config file is ok", stdout + stderr, StringComparison.Ordinal);
    }

    [Fact]
    public void The_watch_DaemonSet_adds_NET_RAW_alone_and_watches_a_valid_file_sd_file_from_its_ConfigMap()
    {
        List<YamlView> documents = Load("prober-daemonset.yaml");
        YamlView daemonSet = Kind(documents, "DaemonSet");
        YamlView configMap = Kind(documents, "ConfigMap");
        YamlView pod = daemonSet["spec", "template"];
        YamlView container = Assert.Single(pod["spec", "containers"].Items);

        Assert.Equal("tcp-shaker:0.1.0", container["image"].Text);
        List<string> args = container["args"].Strings;
        Assert.Equal("serve", args[0]);
        Assert.Equal("0.0.0.0:9115", ArgAfter(args, "--listen"));
        string targetsKey = AssertMountedFromConfigMap(pod, container, ArgAfter(args, "--targets"), configMap);
        AssertMountedFromConfigMap(pod, container, ArgAfter(args, "--config"), configMap);
        Assert.Equal("9115", Assert.Single(container["ports"].Items)["containerPort"].Text);

        // Root with NET_RAW only: a non-root process gets no effective capability from capabilities.add.
        YamlView security = container["securityContext"];
        Assert.Equal("0", security["runAsUser"].Text);
        Assert.Equal(["ALL"], security["capabilities", "drop"].Strings);
        Assert.Equal(["NET_RAW"], security["capabilities", "add"].Strings);
        Assert.Equal("true", security["readOnlyRootFilesystem"].Text);
        Assert.Equal("false", pod["spec", "hostNetwork"].Text);

        // The targets are file_sd target groups: a list of { targets: [...], labels: {...} }.
        string targetsText = configMap["data", targetsKey].Text;
        List<YamlView> groups = YamlView.ParseAll(targetsText, targetsKey)[0].Items;
        Assert.NotEmpty(groups);
        Assert.All(groups, g => Assert.All(g["targets"].Strings, t => Assert.Matches(@"^[a-z0-9.-]+:\d+$", t)));

        // Prometheus' own reading of a file_sd file: promtool checks the files a file_sd_configs entry names.
        string targetsFile = WriteTemp("targets.yml", targetsText);
        AssertPromtoolAccepts(WriteTemp("file-sd.yml", $"scrape_configs:\n  - job_name: watch\n    file_sd_configs:\n      - files: [{targetsFile}]\n"));
    }

    [Fact]
    public void The_scrape_job_is_the_blackbox_exporters_with_only_the_probers_address_changed()
    {
        YamlView job = Assert.Single(Load(Path.Combine("prometheus", "blackbox-job.yml"))[0]["scrape_configs"].Items);
        List<YamlView> prober = Load("prober.yaml");
        YamlView service = Kind(prober, "Service");

        Assert.Equal("/probe", job["metrics_path"].Text);
        string module = Assert.Single(job["params", "module"].Strings);
        YamlView modules = YamlView.ParseAll(Kind(prober, "ConfigMap")["data", "blackbox.yml"].Text, "blackbox.yml")[0]["modules"];
        Assert.Contains(module, modules.Keys);

        // The blackbox exporter's README's three rules, in its order; the replacement is this prober's Service.
        string address = $"{service["metadata", "name"].Text}.monitoring.svc:{Assert.Single(service["spec", "ports"].Items)["port"].Text}";
        AssertBlackboxRelabelling(job["relabel_configs"].Items, address);
    }

    [Fact]
    public void The_sharded_job_keeps_one_hash_of_the_target_before_the_target_becomes_the_probers_address()
    {
        YamlView job = Assert.Single(Load(Path.Combine("prometheus", "blackbox-job-sharded.yml"))[0]["scrape_configs"].Items);
        List<YamlView> rules = job["relabel_configs"].Items;

        YamlView hash = rules[0];
        Assert.Equal("hashmod", hash["action"].Text);
        Assert.Equal(["__address__"], hash["source_labels"].Strings);
        Assert.True(int.Parse(hash["modulus"].Text, System.Globalization.CultureInfo.InvariantCulture) >= 2);
        YamlView keep = rules[1];
        Assert.Equal("keep", keep["action"].Text);
        Assert.Equal([hash["target_label"].Text], keep["source_labels"].Strings);
        Assert.Matches(@"^\d+$", keep["regex"].Text);
        Assert.StartsWith("__tmp", hash["target_label"].Text, StringComparison.Ordinal); // dropped after relabelling, never stored

        AssertBlackboxRelabelling(rules[2..], "tcp-shaker-prober.monitoring.svc:9115");
    }

    [Theory]
    [InlineData("blackbox-job.yml")]
    [InlineData("blackbox-job-sharded.yml")]
    [InlineData("watch-job.yml")]
    public void Every_Prometheus_file_passes_promtool_check_config(string file)
    {
        AssertPromtoolAccepts(Path.Combine(Folder, "prometheus", file));
    }

    private static void AssertBlackboxRelabelling(List<YamlView> rules, string address)
    {
        Assert.Equal(3, rules.Count);
        Assert.Equal(["__address__"], rules[0]["source_labels"].Strings);
        Assert.Equal("__param_target", rules[0]["target_label"].Text);
        Assert.Equal(["__param_target"], rules[1]["source_labels"].Strings);
        Assert.Equal("instance", rules[1]["target_label"].Text);
        Assert.Equal(("__address__", address), (rules[2]["target_label"].Text, rules[2]["replacement"].Text));
        Assert.All(rules, r => Assert.Null(r.Find("action"))); // replace, the default
    }

    private static void AssertPromtoolAccepts(string file)
    {
        string? promtool = Sh.Which("promtool");
        Assert.SkipWhen(promtool is null, "promtool is not installed (Debian: apt-get install prometheus)");
        (int exit, string stdout, string stderr) = Sh.TryRun(Limit, promtool!, "check", "config", file);
        string output = stdout + stderr;
        Assert.SkipWhen(
            exit != 0 && output.Contains("field kubernetes_sd_configs not found", StringComparison.Ordinal),
            "this promtool is built without Kubernetes service discovery (Debian's 2.42 leaves it out); upstream's checks this file");
        Assert.True(exit == 0, output);
        // The one warning allowed: a file_sd path of the user's (/etc/prometheus/targets/*.yml) that is not on this machine.
        Assert.All(
            output.Split('\n').Where(l => l.Contains("WARNING", StringComparison.Ordinal)),
            l => Assert.Matches(@"WARNING: file "".+"" for file_sd in scrape job "".+"" does not exist", l));
    }

    /// <summary>The container path <paramref name="path"/> is a key of <paramref name="configMap"/> mounted by a volume of the pod; that key.</summary>
    private static string AssertMountedFromConfigMap(YamlView pod, YamlView container, string path, YamlView configMap)
    {
        string directory = Path.GetDirectoryName(path)!;
        string key = Path.GetFileName(path);
        YamlView mount = Assert.Single(container["volumeMounts"].Items, m => m["mountPath"].Text == directory);
        YamlView volume = Assert.Single(pod["spec", "volumes"].Items, v => v["name"].Text == mount["name"].Text);
        Assert.Equal(configMap["metadata", "name"].Text, volume["configMap", "name"].Text);
        Assert.Contains(key, configMap["data"].Keys);
        return key;
    }

    private static string ArgAfter(List<string> args, string option)
    {
        int i = args.IndexOf(option);
        Assert.True(i >= 0 && i + 1 < args.Count, $"{option} missing from {string.Join(' ', args)}");
        return args[i + 1];
    }

    private static string WriteTemp(string name, string text)
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("tcp-shaker-k8s-").FullName, name);
        File.WriteAllText(path, text);
        return path;
    }
}
