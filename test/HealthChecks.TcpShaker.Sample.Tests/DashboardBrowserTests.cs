using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace HealthChecks.TcpShaker.Sample.Tests;

/// <summary>
/// The dashboard in a real headless Chromium (Debian's <c>chromium</c> package, driven by Playwright; no
/// browser download). Saves screenshots to <c>screenshots/</c> in the test output, or to
/// <c>$TCPSHAKER_SCREENSHOTS</c> when set.
/// </summary>
[Collection(RunningSampleGroup.Name)]
public sealed partial class DashboardBrowserTests(RunningSample sample)
{
    private const string Chromium = "/usr/bin/chromium";

    private static string ScreenshotDirectory =>
        Environment.GetEnvironmentVariable("TCPSHAKER_SCREENSHOTS") is { Length: > 0 } dir ? dir : Path.Combine(AppContext.BaseDirectory, "screenshots");

    /// <summary>Polls to wait for before the screenshot (2 s each); <c>$TCPSHAKER_DASHBOARD_POINTS</c> for a longer history.</summary>
    private static int Points =>
        int.TryParse(Environment.GetEnvironmentVariable("TCPSHAKER_DASHBOARD_POINTS"), out int points) && points > 0 ? points : 8;

    [GeneratedRegex(@"^\d+(\.\d+)? ms$")]
    private static partial Regex Milliseconds();

    private static async Task<IBrowser> LaunchAsync(IPlaywright playwright) =>
        await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });

    [Fact]
    public async Task Shows_each_watch_with_its_health_since_when_and_a_strip_of_recent_results()
    {
        Assert.SkipUnless(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium");
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await LaunchAsync(playwright);
        IPage page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 760 } });

        await page.GotoAsync(sample.BaseAddress.ToString());

        // The "watched" registration watches the app's own port (up after 2 successes at 1 s) and the
        // closed dependency (down after 3 refusals): the card fails while one watch is down.
        ILocator card = page.Locator(".check[data-check='watched']");
        ILocator up = card.Locator($".watch[data-endpoint='127.0.0.1:{sample.Port}'][data-health='Up']");
        ILocator down = card.Locator($".watch[data-endpoint='{sample.DependencyEndpoint}'][data-health='Down']");
        await up.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        await down.WaitForAsync(new LocatorWaitForOptions { Timeout = 20_000 });
        Assert.Equal("Unhealthy", await card.GetAttributeAsync("data-status"));
        Assert.Equal("Up", await up.Locator(".health").InnerTextAsync());
        Assert.Equal("Down", await down.Locator(".health").InnerTextAsync());
        Assert.Matches(@"^since \d{2}:\d{2}:\d{2} \(\d+ s\)$", await up.Locator(".since").InnerTextAsync());
        Assert.Matches(@"^since \d{2}:\d{2}:\d{2} \(\d+ s\)$", await down.Locator(".since").InnerTextAsync());
        Assert.Matches($"{Regex.Escape(sample.DependencyEndpoint)} is down since .*refusals in a row", await card.Locator(".description").InnerTextAsync());

        // The strips: one cell per recent check, oldest first; wait until each holds a few.
        await page.WaitForFunctionAsync(
            "n => [...document.querySelectorAll(\".check[data-check='watched'] .strip\")].every(s => +s.dataset.results >= n)",
            4, new PageWaitForFunctionOptions { Timeout = 30_000 });
        int upOpen = await up.Locator(".cell[data-status='Open']").CountAsync();
        int downRefused = await down.Locator(".cell[data-status='Refused']").CountAsync();
        Assert.True(upOpen >= 4, $"{upOpen} open cells");
        Assert.True(downRefused >= 4, $"{downRefused} refused cells");
        await AssertNoneAsync(up.Locator(".cell:not(.empty):not([data-status='Open'])"), "the app's own port");
        await AssertNoneAsync(down.Locator(".cell:not(.empty):not([data-status='Refused'])"), "the closed dependency");
        Assert.Equal(32, await down.Locator(".cell").CountAsync());
        Assert.Matches(@"^\d{2}:\d{2}:\d{2}  Refused  \d+(\.\d+)? ms$", await down.Locator(".cell[data-status='Refused']").Last.GetAttributeAsync("title") ?? "");
        Assert.Matches(@"^\d+ checks · \d+ failed in a row$", await down.Locator(".counts").InnerTextAsync());

        Directory.CreateDirectory(ScreenshotDirectory);
        await card.ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, "dashboard-watch.png") });
    }

    /// <summary>Fails naming each unexpected cell by its tooltip (time, status, handshake), so a failure says what the watch saw.</summary>
    private static async Task AssertNoneAsync(ILocator cells, string target)
    {
        string[] titles = await cells.EvaluateAllAsync<string[]>("cells => cells.map(c => c.title)");
        Assert.True(titles.Length == 0, $"{target}: unexpected results {string.Join("; ", titles)}");
    }

    [Fact]
    public async Task Shows_the_healthy_and_the_unhealthy_target_with_their_times_and_a_banner_when_the_app_is_unreachable()
    {
        Assert.SkipUnless(File.Exists(Chromium), $"{Chromium} is missing: apt-get install -y chromium");
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await LaunchAsync(playwright);
        IPage page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1280, Height = 760 } });

        await page.GotoAsync(sample.BaseAddress.ToString());

        ILocator healthy = page.Locator(".check[data-check='self-http'][data-status='Healthy']");
        ILocator unhealthy = page.Locator(".check[data-check='dependencies'][data-status='Unhealthy']");
        await healthy.WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        await unhealthy.WaitForAsync(new LocatorWaitForOptions { Timeout = 15_000 });
        ILocator open = healthy.Locator($".endpoint[data-endpoint='127.0.0.1:{sample.Port}'][data-status='Open']");
        ILocator refused = unhealthy.Locator($".endpoint[data-endpoint='{sample.DependencyEndpoint}'][data-status='Refused']");
        Assert.Matches(Milliseconds(), await open.Locator(".ms").InnerTextAsync());
        Assert.Matches(Milliseconds(), await refused.Locator(".ms").InnerTextAsync());
        Assert.Equal("Unhealthy", await page.Locator("#overall").InnerTextAsync());
        Assert.Contains("refused", await unhealthy.Locator(".description").InnerTextAsync(), StringComparison.Ordinal);
        Assert.EndsWith($" · mode {SampleMode.Expected}", await healthy.Locator(".facts").InnerTextAsync(), StringComparison.Ordinal);

        // Let a few polls build the charts' history, then keep the picture.
        await page.WaitForFunctionAsync(
            "n => [...document.querySelectorAll('svg.chart')].length >= 3 && [...document.querySelectorAll('svg.chart')].every(s => +s.dataset.points >= n)",
            Points, new PageWaitForFunctionOptions { Timeout = 30_000 + (Points * 3_000) });
        Assert.Equal(0, await page.Locator("#banner:visible").CountAsync());
        Directory.CreateDirectory(ScreenshotDirectory);
        await page.Locator("body").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, "dashboard.png") });

        // The app stops answering (the page's requests to /health fail): a banner says since when, the data greys out.
        await page.RouteAsync("**/health", route => route.AbortAsync("connectionrefused"));
        ILocator banner = page.Locator("#banner");
        await banner.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = 10_000 });
        Assert.Matches(@"^Cannot reach the app since \d{2}:\d{2}:\d{2}", await banner.InnerTextAsync());
        Assert.Contains("stale", await page.Locator("body").GetAttributeAsync("class") ?? "", StringComparison.Ordinal);
        await page.Locator("body").ScreenshotAsync(new LocatorScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, "dashboard-unreachable.png") });

        // And it comes back by itself.
        await page.UnrouteAsync("**/health");
        await banner.WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Hidden, Timeout = 10_000 });
        Assert.DoesNotContain("stale", await page.Locator("body").GetAttributeAsync("class") ?? "", StringComparison.Ordinal);
    }
}
