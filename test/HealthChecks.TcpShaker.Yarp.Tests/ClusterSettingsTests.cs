using Yarp.ReverseProxy.Configuration;

namespace HealthChecks.TcpShaker.Yarp.Tests;

/// <summary>Reading a cluster's settings and its destinations' check addresses (the rules the validator and the watches share).</summary>
public sealed class ClusterSettingsTests
{
    private static ClusterConfig Cluster(Dictionary<string, string>? metadata = null, string policy = "tcpshaker", bool enabled = true) => new()
    {
        ClusterId = "c",
        HealthCheck = new HealthCheckConfig { Active = new ActiveHealthCheckConfig { Enabled = enabled, Policy = policy } },
        Metadata = metadata,
    };

    [Theory]
    [InlineData("tcpshaker", true, true)]    // YARP compares policy names ignoring case
    [InlineData("TcpShaker", false, false)]  // not enabled: YARP's behaviour
    [InlineData("ConsecutiveFailures", true, false)]
    public void Applies_to_enabled_clusters_with_the_policy(string policy, bool enabled, bool applies) =>
        Assert.Equal(applies, ClusterSettings.AppliesTo(Cluster(policy: policy, enabled: enabled)));

    [Fact]
    public void Unset_values_take_the_monitors_defaults_and_metadata_sets_the_rest()
    {
        var errors = new List<string>();
        ClusterSettings settings = ClusterSettings.Read(Cluster(new()
        {
            ["TcpShaker.Rise"] = "4",
            ["tcpshaker.fall"] = "5",
            ["TcpShaker.FastInterval"] = "00:00:00.200",
            ["TcpShaker.DownInterval"] = "00:00:05",
            ["TcpShaker.Jitter"] = "0.25",
            ["Other.Key"] = "left alone",
        }), errors)!.Value;

        Assert.Empty(errors);
        Assert.Equal(new ClusterSettings(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), 4, 5, 0.25, TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5)), settings);
    }

    [Theory]
    [InlineData("TcpShaker.Fall", "three", "Cluster 'c': Metadata:TcpShaker.Fall is 'three', not a whole number.")]
    [InlineData("TcpShaker.Fall", "1001", "Cluster 'c': Metadata:TcpShaker.Fall is '1001', out of range for TcpShaker health checks: Fall is 1001; it must be from 1 to 1000.")]
    [InlineData("TcpShaker.Jitter", "0.9", "Cluster 'c': Metadata:TcpShaker.Jitter is '0.9', out of range for TcpShaker health checks: Jitter is 0.9;")]
    [InlineData("TcpShaker.Jitter", "lots", "Cluster 'c': Metadata:TcpShaker.Jitter is 'lots', not a number")]
    [InlineData("TcpShaker.DownInterval", "00:00:00.001", "Cluster 'c': Metadata:TcpShaker.DownInterval is '00:00:00.001', out of range")]
    [InlineData("TcpShaker.DownInterval", "5s", "Cluster 'c': Metadata:TcpShaker.DownInterval is '5s', not a time span")]
    public void A_bad_value_is_one_error_naming_the_cluster_the_key_and_the_value(string key, string value, string expected)
    {
        var errors = new List<string>();
        Assert.Null(ClusterSettings.Read(Cluster(new() { [key] = value }), errors));
        Assert.StartsWith(expected, Assert.Single(errors), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("http://10.0.0.5/", null, "10.0.0.5:80")]
    [InlineData("https://10.0.0.5/", null, "10.0.0.5:443")]
    [InlineData("http://[::1]:8080/", null, "[::1]:8080")]
    [InlineData("http://backend.internal:8080/x", null, "backend.internal:8080")]
    [InlineData("http://10.0.0.5:8080/", "http://10.0.0.5:9090/healthz", "10.0.0.5:9090")]
    public void The_check_address_is_the_health_address_or_else_the_address(string address, string? health, string expected)
    {
        var errors = new List<string>();
        TcpEndpoint? endpoint = ClusterSettings.CheckEndpoint("c", "d", new DestinationConfig { Address = address, Health = health }, errors);
        Assert.Empty(errors);
        Assert.Equal(expected, endpoint!.ToString());
    }

    [Theory]
    [InlineData("10.0.0.5:8080", "Cluster 'c', destination 'd': Address '10.0.0.5:8080' is not an absolute URL")]
    [InlineData("app://10.0.0.5/", "Cluster 'c', destination 'd': Address 'app://10.0.0.5/' has no port")]
    [InlineData("file:///srv/x", "Cluster 'c', destination 'd': Address 'file:///srv/x' has no host to check.")]
    public void An_address_that_cannot_be_checked_is_one_error_naming_cluster_destination_and_key(string address, string expected)
    {
        var errors = new List<string>();
        Assert.Null(ClusterSettings.CheckEndpoint("c", "d", new DestinationConfig { Address = address }, errors));
        Assert.StartsWith(expected, Assert.Single(errors), StringComparison.Ordinal);
    }
}
